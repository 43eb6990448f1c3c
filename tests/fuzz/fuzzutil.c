/* fuzzutil.c — scratch dir, temp files and aborting on a broken invariant, for the fuzz targets. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzzutil.h"

static char scratch[64];

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: invariant broken: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* rm -r of what the targets make: the store's dir and a temp file or two. */
static void remove_tree(const char *path)
{
	char sub[1024];
	struct dirent *e;
	DIR *d = opendir(path);

	if (!d) {
		unlink(path);
		return;
	}
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		remove_tree(sub);
	}
	closedir(d);
	rmdir(path);
}

static void scratch_remove(void)
{
	if (scratch[0])
		remove_tree(scratch);
}

const char *fuzz_scratch_dir(void)
{
	struct stat st;

	if (scratch[0])
		return scratch;
	snprintf(scratch, sizeof(scratch), "%s/udsrpc-fuzz-XXXXXX",
	         stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp");
	if (!mkdtemp(scratch))
		fuzz_fail("mkdtemp %s: %s", scratch, strerror(errno));
	atexit(scratch_remove);
	return scratch;
}

void fuzz_write_file(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		fuzz_fail("open %s: %s", path, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fuzz_fail("write %s: %s", path, strerror(errno));
		data += n;
		len -= (size_t)n;
	}
	close(fd);
}

void fuzz_check_err(int r, const char *err, size_t errlen, const char *who)
{
	if (r == 0)
		return;
	if (r > 0)
		fuzz_fail("%s returned %d: 0 or -errno", who, r);
	if (!memchr(err, '\0', errlen) || err[0] == '\0')
		fuzz_fail("%s failed (%d) without a message", who, r);
	if (strchr(err, '\n'))
		fuzz_fail("%s message spans lines: %s", who, err);
}
