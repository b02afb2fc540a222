/* pool_ops.c - launchers for cl/pool.cl (max, average and global average pooling) and
 * the output-size rule the pooling layers share. The math and the work sizes are
 * documented in pool.cl and ops_cnn.h; here: argument checks, the choice between the two
 * backward kernels, local sizes, and launches of at most 65535 planes. Nothing here
 * blocks. */
#include "ops_cnn.h"

int32_t vd_pool_out_size2(int32_t in, int32_t extent, int32_t stride, int32_t pad0, int32_t pad1,
                          bool ceil_mode)
{
    int64_t span = (int64_t)in + (int64_t)pad0 + pad1 - extent;
    if (span < 0 || stride < 1) return 0;
    int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    /* PyTorch: the last window must start inside the input or the left padding. */
    if (ceil_mode && (out - 1) * stride >= (int64_t)in + pad0) out--;
    return out > INT32_MAX ? 0 : (int32_t)out;
}

int32_t vd_pool_out_size(int32_t in, int32_t k, int32_t stride, int32_t pad, bool ceil_mode)
{
    return vd_pool_out_size2(in, k, stride, pad, pad, ceil_mode);
}

/* The dilation, 0 read as 1 (see vd_pool_geom). */
static int32_t dil(int32_t d)
{
    return d ? d : 1;
}

static bool geom_ok(const vd_pool_geom *g)
{
    return g->C > 0 && g->H > 0 && g->W > 0 && g->P > 0 && g->Q > 0 && g->kh > 0 && g->kw > 0 &&
           g->sh > 0 && g->sw > 0 && g->ph >= 0 && g->pw >= 0 && g->pb >= 0 && g->pr >= 0 &&
           g->dh >= 0 && g->dw >= 0 && (g->excl == 0 || g->excl == 1);
}

/* The kernels index within a plane and compute window bounds in int. */
static bool geom_fits_int(const vd_pool_geom *g)
{
    const int64_t m = INT32_MAX;
    int64_t eh = ((int64_t)g->kh - 1) * dil(g->dh) + 1, ew = ((int64_t)g->kw - 1) * dil(g->dw) + 1;
    return (int64_t)g->H * g->W <= m && (int64_t)g->P * g->Q <= m && (int64_t)g->kh * g->kw <= m &&
           (int64_t)g->P * g->sh + eh + g->ph + g->pb <= m &&
           (int64_t)g->Q * g->sw + ew + g->pw + g->pr <= m &&
           (int64_t)g->H + g->ph + g->pb + g->sh + eh <= m &&
           (int64_t)g->W + g->pw + g->pr + g->sw + ew <= m;
}

/* The largest divisor of d that is at most cap (>= 1). */
static size_t divisor_below(size_t d, size_t cap)
{
    for (size_t l = cap < d ? cap : d; l > 1; l--)
        if (d % l == 0) return l;
    return 1;
}

/* Local size for a launch over gl = (columns, rows, planes). PoCL pays a fixed cost per
 * work-group and compiles the kernel again for each local size (0.3-0.6 s when its cache
 * is cold), so: up to 256 work-items, chosen from the plane's shape alone. Dimension 0
 * takes whole rows (PoCL runs it innermost, so idle work-items there cost most), or the
 * largest divisor of a longer row; dimension 1 the largest divisor of the rows that fits;
 * dimension 2 a power of two (at most 64, the smallest third work-item size limit in
 * common use, NVIDIA's, and at most the first power of two >= gl[2]), and gl[2] is rounded
 * up to a multiple of it, so that the batch size seldom changes the local size (the
 * kernels skip planes past the end). NULL (the runtime's default and a rounded-up grid,
 * which the kernels bounds-check too) when a row longer than 256 has no divisor of at
 * least 64. */
static const size_t *pool_local(const vd_context *ctx, size_t gl[3], size_t l[3])
{
    size_t cap = ctx->max_wg < 256 ? ctx->max_wg : 256;
    l[0] = divisor_below(gl[0], cap);
    if (gl[0] > cap && l[0] < 64 && l[0] < cap) return NULL;
    l[1] = divisor_below(gl[1], cap / l[0]);
    size_t c2 = cap / (l[0] * l[1]);
    for (l[2] = 1; l[2] * 2 <= c2 && l[2] * 2 <= 64 && l[2] < gl[2];) l[2] *= 2;
    gl[2] = (gl[2] + l[2] - 1) / l[2] * l[2];
    return l;
}

/* Planes per launch. The grid has a dimension of planes, and NVIDIA's GPUs take at most
 * 65535 work-groups along dimensions 1 and 2, so a bigger batch goes in several launches,
 * each moving the buffers' offsets on by whole planes. One launch on PoCL in practice. */
#define MAX_PLANES ((size_t)65535)

static size_t chunk(size_t planes, size_t p0)
{
    return planes - p0 < MAX_PLANES ? planes - p0 : MAX_PLANES;
}

#define POOL_ARGS(g, planes)                                                                  \
    VD_A_U64(planes), VD_A_I32((g)->H), VD_A_I32((g)->W), VD_A_I32((g)->P), VD_A_I32((g)->Q), \
        VD_A_I32((g)->kh), VD_A_I32((g)->kw), VD_A_I32((g)->sh), VD_A_I32((g)->sw),           \
        VD_A_I32((g)->ph), VD_A_I32((g)->pw), VD_A_I32((g)->pb), VD_A_I32((g)->pr),           \
        VD_A_I32(dil((g)->dh)), VD_A_I32(dil((g)->dw)), VD_A_I32((g)->excl)

/* Enqueue pool.cl:name over the grid (d0, d1, d2) with pool_local's local size. */
static vd_status run3(vd_context *ctx, const char *name, size_t d0, size_t d1, size_t d2,
                      size_t nargs, const vd_karg *args)
{
    size_t l[3], gl[3] = {d0, d1, d2};
    return vd_kernel_run(ctx, "pool", name, 3, gl, pool_local(ctx, gl, l), nargs, args);
}
#define RUN3(ctx, name, d0, d1, d2, ...)                                                      \
    run3((ctx), (name), (d0), (d1), (d2), sizeof((vd_karg[]){__VA_ARGS__}) / sizeof(vd_karg), \
         (vd_karg[]){__VA_ARGS__})

/* In each entry point, so that the message names it. */
#define CHECK_GEOM(ctx, g)                                                                \
    do {                                                                                  \
        VD_CHECK((ctx), (g) && geom_ok(g), "bad pooling geometry");                       \
        VD_CHECK((ctx), geom_fits_int(g), "pooling plane too large for 32-bit indexing"); \
    } while (0)

/* 2x2 windows, stride 2, no padding or dilation: maxpool2_fwd / maxpool2_bwd (cl/pool.cl). */
static bool pool2(const vd_pool_geom *g)
{
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 &&
           g->pb == 0 && g->pr == 0 && dil(g->dh) == 1 && dil(g->dw) == 1 && 2 * g->P <= g->H &&
           2 * g->Q <= g->W;
}

/* Forward of maxpool (idx != NULL) or avgpool. */
/* max: maxpool, positions to idx unless it is NULL (inference); else avgpool. */
static vd_status pool_fwd(vd_context *ctx, const vd_pool_geom *g, size_t n, bool max, cl_mem x,
                          size_t xo, cl_mem y, size_t yo, cl_mem idx, size_t idxo)
{
    size_t planes = n * (size_t)g->C, hw = (size_t)g->H * g->W, pq = (size_t)g->P * g->Q;
    for (size_t p0 = 0; p0 < planes; p0 += MAX_PLANES) {
        size_t m = chunk(planes, p0);
        /* 2x2 stride 2: maxpool2_fwd, a row of outputs per work-item (14 columns:
         * 0.26-0.33 vs 0.51-0.81 ms for the generic kernel, one work-item per output);
         * below 8 columns (no vector step) maxpool2_fwd_planes, a plane per work-item
         * (VGG-BN's 7x7 -> 3x3 at batch 64: 0.53-0.58 vs 1.11-1.15 ms, paired runs). */
        static const char *const names[3] = {"maxpool_fwd", "maxpool2_fwd", "maxpool2_fwd_planes"};
        int form = !pool2(g) ? 0 : g->W >= 8 ? 1 : 2;
        const size_t dims[3][3] = {
            {(size_t)g->Q, (size_t)g->P, m}, {(size_t)g->P, m, 1}, {m, 1, 1}};
        const size_t *d = dims[form];
        vd_status st =
            max ? RUN3(ctx, names[form], d[0], d[1], d[2], POOL_ARGS(g, m), VD_A_MEM(x),
                       VD_A_U64(xo + p0 * hw), VD_A_MEM(y), VD_A_U64(yo + p0 * pq),
                       VD_A_I32(idx != NULL), VD_A_MEM(idx), VD_A_U64(idx ? idxo + p0 * pq : 0))
                : RUN3(ctx, "avgpool_fwd", g->Q, g->P, m, POOL_ARGS(g, m), VD_A_MEM(x),
                       VD_A_U64(xo + p0 * hw), VD_A_MEM(y), VD_A_U64(yo + p0 * pq));
        if (st != VD_OK) return st;
    }
    return VD_OK;
}

/* Backward of maxpool (idx from the forward) or avgpool (idx NULL: clSetKernelArg takes a
 * NULL buffer, which the kernel does not read). Windows that do not overlap write each
 * output's cell (pool_bwd_cell, one work-item per output) instead of gathering per input
 * pixel (pool_bwd), 4-8x faster on PoCL. */
static vd_status pool_bwd(vd_context *ctx, const vd_pool_geom *g, size_t n, cl_mem idx, size_t idxo,
                          cl_mem dy, size_t dyo, float beta, cl_mem dx, size_t dxo)
{
    bool cells = g->kh <= g->sh && g->kw <= g->sw && dil(g->dh) == 1 && dil(g->dw) == 1;
    const char *name = idx && pool2(g) && g->H == 2 * g->P && g->W == 2 * g->Q ? "maxpool2_bwd"
                       : cells                                                 ? "pool_bwd_cell"
                                                                               : "pool_bwd";
    size_t d0 = (size_t)(cells ? g->Q : g->W), d1 = (size_t)(cells ? g->P : g->H);
    size_t planes = n * (size_t)g->C, hw = (size_t)g->H * g->W, pq = (size_t)g->P * g->Q;
    for (size_t p0 = 0; p0 < planes; p0 += MAX_PLANES) {
        size_t m = chunk(planes, p0);
        vd_status st =
            RUN3(ctx, name, d0, d1, m, POOL_ARGS(g, m), VD_A_I32(idx == NULL), VD_A_MEM(idx),
                 VD_A_U64(idx ? idxo + p0 * pq : 0), VD_A_MEM(dy), VD_A_U64(dyo + p0 * pq),
                 VD_A_F32(beta), VD_A_MEM(dx), VD_A_U64(dxo + p0 * hw));
        if (st != VD_OK) return st;
    }
    return VD_OK;
}

vd_status vd_op_maxpool_fwd(vd_context *ctx, const vd_pool_geom *g, size_t n, cl_mem x, size_t xo,
                            cl_mem y, size_t yo, cl_mem idx, size_t idxo)
{
    VD_NEED(ctx, x, y);
    CHECK_GEOM(ctx, g);
    return pool_fwd(ctx, g, n, true, x, xo, y, yo, idx, idxo);
}

vd_status vd_op_maxpool_indices(vd_context *ctx, const vd_pool_geom *g, size_t n, bool colmajor,
                                cl_mem idx, size_t idxo, cl_mem y, size_t yo)
{
    VD_NEED(ctx, idx, y);
    CHECK_GEOM(ctx, g);
    size_t planes = n * (size_t)g->C, pq = (size_t)g->P * g->Q;
    for (size_t p0 = 0; p0 < planes; p0 += MAX_PLANES) {
        size_t m = chunk(planes, p0);
        vd_status st = RUN3(ctx, "maxpool_indices", pq, 1, m, VD_A_U64(m), VD_A_U64(p0),
                            VD_A_I32(g->H), VD_A_I32(g->W), VD_A_I32(colmajor ? 1 : 0),
                            VD_A_I32((int32_t)pq), VD_A_MEM(idx),
                            VD_A_U64(idxo + p0 * pq), VD_A_MEM(y), VD_A_U64(yo + p0 * pq));
        if (st != VD_OK) return st;
    }
    return VD_OK;
}

vd_status vd_op_maxpool_bwd(vd_context *ctx, const vd_pool_geom *g, size_t n, cl_mem idx,
                            size_t idxo, cl_mem dy, size_t dyo, float beta, cl_mem dx, size_t dxo)
{
    VD_NEED(ctx, idx, dy, dx);
    CHECK_GEOM(ctx, g);
    return pool_bwd(ctx, g, n, idx, idxo, dy, dyo, beta, dx, dxo);
}

vd_status vd_op_avgpool_fwd(vd_context *ctx, const vd_pool_geom *g, size_t n, cl_mem x, size_t xo,
                            cl_mem y, size_t yo)
{
    VD_NEED(ctx, x, y);
    CHECK_GEOM(ctx, g);
    return pool_fwd(ctx, g, n, false, x, xo, y, yo, NULL, 0);
}

vd_status vd_op_avgpool_bwd(vd_context *ctx, const vd_pool_geom *g, size_t n, cl_mem dy, size_t dyo,
                            float beta, cl_mem dx, size_t dxo)
{
    VD_NEED(ctx, dy, dx);
    CHECK_GEOM(ctx, g);
    return pool_bwd(ctx, g, n, NULL, 0, dy, dyo, beta, dx, dxo);
}

vd_status vd_op_globalavgpool_fwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem x,
                                  size_t xo, cl_mem y, size_t yo)
{
    VD_NEED(ctx, x, y);
    VD_CHECK(ctx, HW > 0, "empty plane");
    if (n == 0 || C == 0) return VD_OK;
    return VD_RUN1(ctx, "pool", "gavg_fwd", n * C, VD_A_U64(n * C), VD_A_U64(HW), VD_A_MEM(x),
                   VD_A_U64(xo), VD_A_MEM(y), VD_A_U64(yo));
}

vd_status vd_op_globalavgpool_bwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem dy,
                                  size_t dyo, float beta, cl_mem dx, size_t dxo)
{
    VD_NEED(ctx, dy, dx);
    VD_CHECK(ctx, HW > 0, "empty plane");
    size_t planes = n * C;
    for (size_t p0 = 0; p0 < planes; p0 += MAX_PLANES) {
        size_t m = chunk(planes, p0);
        vd_status st =
            RUN3(ctx, "gavg_bwd", HW, 1, m, VD_A_U64(m), VD_A_U64(HW), VD_A_MEM(dy),
                 VD_A_U64(dyo + p0), VD_A_F32(beta), VD_A_MEM(dx), VD_A_U64(dxo + p0 * HW));
        if (st != VD_OK) return st;
    }
    return VD_OK;
}
