/* test_hist.c — the latency histogram: exactness, relative error bound, merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "hist.h"

static void test_small_values_exact(void **state)
{
	struct hist h;
	hist_init(&h);
	for (uint64_t v = 1; v <= 100; v++)
		hist_record(&h, v);
	assert_int_equal(h.count, 100);
	assert_int_equal(hist_quantile(&h, 0.5), 50);
	assert_int_equal(hist_quantile(&h, 0.99), 99);
	assert_int_equal(hist_quantile(&h, 0), 1);
	assert_int_equal(hist_quantile(&h, 1), 100);
}

static void test_relative_error_under_one_percent(void **state)
{
	/* Every single value, alone, must come back within 1%. */
	for (uint64_t v = 1; v < (1ull << 36); v = v * 3 / 2 + 7) {
		struct hist h;
		hist_init(&h);
		hist_record(&h, v);
		hist_record(&h, v + 1); /* two values so the quantile is not the exact min/max */
		uint64_t q = hist_quantile(&h, 0.5);
		double err = (double)(q > v ? q - v : v - q) / (double)v;
		assert_true(err <= 0.01);
	}
}

static void test_merge_equals_single(void **state)
{
	struct hist a, b, all;
	hist_init(&a);
	hist_init(&b);
	hist_init(&all);
	srand(7);
	for (int i = 0; i < 10000; i++) {
		uint64_t v = (uint64_t)rand() % 1000000;
		hist_record(i % 2 ? &a : &b, v);
		hist_record(&all, v);
	}
	hist_merge(&a, &b);
	assert_int_equal(a.count, all.count);
	assert_int_equal(a.min, all.min);
	assert_int_equal(a.max, all.max);
	assert_int_equal(a.sum, all.sum);
	assert_int_equal(hist_quantile(&a, 0.9), hist_quantile(&all, 0.9));
	assert_int_equal(hist_quantile(&a, 0.999), hist_quantile(&all, 0.999));
}

static void test_empty_and_huge(void **state)
{
	struct hist h;
	hist_init(&h);
	assert_int_equal(hist_quantile(&h, 0.5), 0);
	hist_record(&h, UINT64_MAX); /* clamped into the top bucket, max stays exact */
	assert_int_equal(hist_quantile(&h, 1), UINT64_MAX);
	assert_int_equal(h.count, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_values_exact),
		cmocka_unit_test(test_relative_error_under_one_percent),
		cmocka_unit_test(test_merge_equals_single),
		cmocka_unit_test(test_empty_and_huge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
