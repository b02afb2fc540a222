/* test_util.c - cl/util.cl (fill) on the device: odd sizes, non-zero offsets, guard zones
 * untouched, and bad arguments. */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "ops/ops.h"

static void check_fill(vd_context *ctx, size_t n, size_t off, float value)
{
    char what[96];
    float *got = test_malloc(n * sizeof(float)), *want = test_malloc(n * sizeof(float));
    test_buf b;
    snprintf(what, sizeof what, "fill n=%zu off=%zu", n, off);
    if (EXPECT_OK(ctx, test_buf_create(ctx, n, off, NULL, &b))) {
        EXPECT_OK(ctx, vd_op_fill(ctx, n, value, b.mem, b.off));
        EXPECT_OK(ctx, test_buf_read(&b, got));
        for (size_t i = 0; i < n; i++)
            want[i] = value;
        expect_equal_bytes(what, got, want, n * sizeof(float));
        expect_guards(what, &b);
        test_buf_destroy(&b);
    }
    free(got);
    free(want);
}

/* vd_tensor_fill on a view: the offset of the view must be honoured. */
static void check_tensor_fill(vd_context *ctx)
{
    vd_tensor *base = NULL, *view = NULL;
    float host[40], want[40];
    if (!EXPECT_OK(ctx, vd_tensor_create(ctx, 1, (int64_t[]){40}, &base)))
        return;
    if (EXPECT_OK(ctx, vd_tensor_view(base, 13, 2, (int64_t[]){3, 5}, &view))) {
        EXPECT_OK(ctx, vd_tensor_fill(base, -1.0f));
        EXPECT_OK(ctx, vd_tensor_fill(view, 2.5f));
        EXPECT_OK(ctx, vd_tensor_read(base, host, 40));
        for (int i = 0; i < 40; i++)
            want[i] = i >= 13 && i < 28 ? 2.5f : -1.0f;
        expect_equal_bytes("vd_tensor_fill on a view at offset 13", host, want, sizeof host);
    }
    vd_tensor_destroy(view);
    vd_tensor_destroy(base);
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0)
        return check_summary();
    static const size_t sizes[] = {1, 3, 17, 63, 64, 65, 129, 1000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        check_fill(ctx, sizes[k], 0, 1.5f);
        check_fill(ctx, sizes[k], 1 + 7 * k, -0.25f);
    }
    check_tensor_fill(ctx);

    /* Bad arguments and the n == 0 no-op. */
    test_buf b;
    if (EXPECT_OK(ctx, test_buf_create(ctx, 4, 3, NULL, &b))) {
        expect_status("fill n=0 is a no-op", ctx, vd_op_fill(ctx, 0, 1.0f, b.mem, b.off), VD_OK);
        expect_guards("fill n=0 writes nothing", &b);
        expect_status("fill NULL buffer", ctx, vd_op_fill(ctx, 4, 1.0f, NULL, 0),
                      VD_ERR_INVALID_ARG);
        expect_status("fill NULL context", NULL, vd_op_fill(NULL, 4, 1.0f, b.mem, 0),
                      VD_ERR_INVALID_ARG);
        test_buf_destroy(&b);
    }
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}
