/* test_framing.c — line splitting fed with bytes: CRLF, blanks, caps, EOF. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "framing.h"

struct fx {
	struct framing f;
	struct evbuffer *in;
};

static int fx_setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	framing_init(&x->f, 16);
	x->in = evbuffer_new();
	*state = x;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *x = *state;
	evbuffer_free(x->in);
	free(x);
	return 0;
}

/* Next event; for a LINE copies it into buf (NUL-terminated) and consumes it. */
static enum framing_event next(struct fx *x, bool eof, char *buf)
{
	char *line;
	size_t len;
	enum framing_event e = framing_next(&x->f, x->in, eof, &line, &len);
	if (e == FRAMING_LINE) {
		memcpy(buf, line, len);
		buf[len] = '\0';
		framing_done(&x->f, x->in);
	}
	return e;
}

static void feed(struct fx *x, const char *s)
{
	evbuffer_add(x->in, s, strlen(s));
}

static void test_lines_and_partial(void **state)
{
	struct fx *x = *state;
	char buf[64];

	feed(x, "{\"a\":1}\n{\"b\"");
	assert_int_equal(next(x, false, buf), FRAMING_LINE);
	assert_string_equal(buf, "{\"a\":1}");
	assert_int_equal(next(x, false, buf), FRAMING_NONE);
	assert_int_equal(evbuffer_get_length(x->in), 4); /* the partial line waits */
	feed(x, ":2}\n");
	assert_int_equal(next(x, false, buf), FRAMING_LINE);
	assert_string_equal(buf, "{\"b\":2}");
	assert_int_equal(evbuffer_get_length(x->in), 0);
}

static void test_crlf_and_blank(void **state)
{
	struct fx *x = *state;
	char buf[64];

	feed(x, "[1]\r\n\r\n \t \r\n\n[2]\n");
	assert_int_equal(next(x, false, buf), FRAMING_LINE);
	assert_string_equal(buf, "[1]");
	assert_int_equal(next(x, false, buf), FRAMING_BLANK);
	assert_int_equal(next(x, false, buf), FRAMING_BLANK);
	assert_int_equal(next(x, false, buf), FRAMING_BLANK);
	assert_int_equal(next(x, false, buf), FRAMING_LINE);
	assert_string_equal(buf, "[2]");
	assert_int_equal(next(x, false, buf), FRAMING_NONE);
}

static void test_eof_completes_trailing_line(void **state)
{
	struct fx *x = *state;
	char buf[64];

	feed(x, "{\"c\":3}");
	assert_int_equal(next(x, false, buf), FRAMING_NONE);
	assert_int_equal(next(x, true, buf), FRAMING_LINE);
	assert_string_equal(buf, "{\"c\":3}");
	assert_int_equal(next(x, true, buf), FRAMING_NONE);
}

static void test_exactly_max_is_accepted(void **state)
{
	struct fx *x = *state;
	char buf[64];

	feed(x, "0123456789abcdef\n"); /* 16 bytes: at the cap, not over it */
	assert_int_equal(next(x, false, buf), FRAMING_LINE);
	assert_string_equal(buf, "0123456789abcdef");
}

static void test_oversize_with_newline_in_buffer(void **state)
{
	struct fx *x = *state;
	char buf[64];

	feed(x, "0123456789abcdefg\n[ok]\n");
	assert_int_equal(next(x, false, buf), FRAMING_OVERSIZE);
	assert_int_equal(next(x, false, buf), FRAMING_LINE);
	assert_string_equal(buf, "[ok]");
}

static void test_oversize_streamed_is_not_buffered(void **state)
{
	struct fx *x = *state;
	char buf[64];

	/* More than the cap without a newline: reported once, then dropped as it comes. */
	feed(x, "0123456789abcdefXYZ");
	assert_int_equal(next(x, false, buf), FRAMING_OVERSIZE);
	assert_int_equal(evbuffer_get_length(x->in), 0);
	feed(x, "more bytes of the same line");
	assert_int_equal(next(x, false, buf), FRAMING_NONE);
	assert_int_equal(evbuffer_get_length(x->in), 0);
	feed(x, "end\n[next]\n");
	assert_int_equal(next(x, false, buf), FRAMING_LINE);
	assert_string_equal(buf, "[next]");
}

static void test_read_budget_respects_cap(void **state)
{
	struct fx *x = *state;

	assert_int_equal(framing_read_budget(&x->f, x->in, 65536), 17);
	feed(x, "0123456789");
	assert_int_equal(framing_read_budget(&x->f, x->in, 65536), 7);
	assert_int_equal(framing_read_budget(&x->f, x->in, 4), 4);
}

static void test_nul_bytes_pass_through(void **state)
{
	struct fx *x = *state;
	char *line;
	size_t len;

	evbuffer_add(x->in, "a\0b\n", 4);
	assert_int_equal(framing_next(&x->f, x->in, false, &line, &len), FRAMING_LINE);
	assert_int_equal(len, 3);
	assert_memory_equal(line, "a\0b", 3);
	framing_done(&x->f, x->in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lines_and_partial, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_crlf_and_blank, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_eof_completes_trailing_line, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_exactly_max_is_accepted, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_oversize_with_newline_in_buffer, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_oversize_streamed_is_not_buffered, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_read_budget_respects_cap, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nul_bytes_pass_through, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
