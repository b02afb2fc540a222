/* conv.c - 2-D convolution (conv2d) and transposed convolution (deconv2d), NCHW. Each of
 * the three passes (forward, backward-data, backward-filter) runs the algorithm that
 * src/ops/conv_select.c chooses for the layer's geometry on this device (im2col, direct,
 * Winograd, FFT: src/ops/conv_algo.h), chosen once, on the first batch the layer sees; a
 * chosen FFT pass that clFFT fails switches to im2col until the next reshape (conv_pass).
 * deconv2d is conv2d run backwards: its forward is a convolution's backward-data and its
 * backward-data a convolution's forward, with the same (in channels, out channels /
 * groups, R, S) weight layout as PyTorch's ConvTranspose2d.
 *
 * Each layer owns a workspace taken from the context's pool on the first pass and grown
 * when a larger batch arrives; destroy gives it back. A pass runs in chunks of images
 * sized so that its workspace stays under VD_CONV_WS_CAP bytes.
 *
 * The bias and, with relu = 1, a ReLU form the layer's epilogue: one pass after the
 * algorithm (none where the algorithm applies it in its own store), and in the backward one
 * pass that masks dy in place and sums db before the data and filter passes (docs/CONV.md,
 * "Fused epilogue"). */
#include <stddef.h>
#include <stdio.h>

#include "../ops/conv_select.h"
#include "layer.h"

#define VD_CONV_WS_CAP ((size_t)64 << 20)

typedef struct conv {
    vd_layer base;
    int32_t filters, kernel, kernel_h, kernel_w, stride, pad, dilation, groups, bias;
    int32_t stride_h, stride_w; /* 0: stride */
    int32_t pad_h, pad_w;       /* -1: pad */
    int32_t relu;       /* ReLU fused into the epilogue (int32_t: the key table's bools are) */
    int32_t output_pad; /* deconv2d only */
    /* conv2d: its own geometry. deconv2d: the convolution it transposes, i.e. C, H, W
     * are the deconv's output and K, P, Q its input. */
    vd_conv_geom g;
    vd_layer_buf ws;                /* the chosen algorithms' scratch */
    size_t ws_cap;                  /* its cap in bytes: VD_CONV_WS_CAP (tests lower it) */
    int algo[VD_CONV_N_PASSES];     /* index into vd_conv_algos; -1: not chosen yet */
    bool forced[VD_CONV_N_PASSES];  /* algo[p] was forced by VERDANT_CONV_ALGO */
    char algo_names[64];            /* "fwd/bwd_data/bwd_filter" names, for profiles */
    vd_layer *bn;        /* conv2d: the batchnorm folded in at inference (layer.h), or NULL */
    vd_layer_buf folded; /* its folded weights (K, C/groups, R, S) then bias (K) */
    uint64_t folded_ver; /* the weights version (vd_step.wver) they were made at; 0: none */
    /* What ws holds from the last inference pass (vd_conv_io.w_ready): the weights
     * version, algorithm, pass, first chunk's images and weight buffer; wver 0: nothing
     * to reuse. */
    struct {
        uint64_t wver;
        int algo, pass;
        size_t chunk;
        cl_mem w;
        size_t w_off;
    } ws_holds;
} conv;

/* One key per line: the formatter would spread the macro's initializers out. */
/* clang-format off */
#define COMMON_KEYS                                                                           \
    {"filters", VD_KEY_INT, offsetof(conv, filters), 0, 1, 1 << 20, true,                     \
     "number of output channels"},                                                            \
    {"kernel", VD_KEY_INT, offsetof(conv, kernel), 3, 1, 1024, false, "kernel size"},         \
    {"kernel_h", VD_KEY_INT, offsetof(conv, kernel_h), 0, 0, 1024, false,                     \
     "kernel height (0: kernel)"},                                                            \
    {"kernel_w", VD_KEY_INT, offsetof(conv, kernel_w), 0, 0, 1024, false,                     \
     "kernel width (0: kernel)"},                                                             \
    {"stride", VD_KEY_INT, offsetof(conv, stride), 1, 1, 1024, false, "stride"},              \
    {"pad", VD_KEY_INT, offsetof(conv, pad), 0, 0, 1024, false, "zero padding"},              \
    {"stride_h", VD_KEY_INT, offsetof(conv, stride_h), 0, 0, 1024, false,                     \
     "stride along the height (0: stride)"},                                                  \
    {"stride_w", VD_KEY_INT, offsetof(conv, stride_w), 0, 0, 1024, false,                     \
     "stride along the width (0: stride)"},                                                   \
    {"pad_h", VD_KEY_INT, offsetof(conv, pad_h), -1, -1, 1024, false,                         \
     "padding of the top and bottom (-1: pad)"},                                              \
    {"pad_w", VD_KEY_INT, offsetof(conv, pad_w), -1, -1, 1024, false,                         \
     "padding of the left and right (-1: pad)"},                                              \
    {"dilation", VD_KEY_INT, offsetof(conv, dilation), 1, 1, 1024, false, "dilation"},        \
    {"groups", VD_KEY_INT, offsetof(conv, groups), 1, 1, 1 << 20, false,                      \
     "channel groups (in channels for depthwise)"},                                           \
    {"bias", VD_KEY_BOOL, offsetof(conv, bias), 1, 0, 1, false, "add a learned bias"},        \
    {"relu", VD_KEY_BOOL, offsetof(conv, relu), 0, 0, 1, false,                               \
     "apply ReLU to the output in the bias pass (saves a layer and two passes over memory)"}
/* clang-format on */

static const vd_key conv_keys[] = {
    COMMON_KEYS,
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

static const vd_key deconv_keys[] = {
    COMMON_KEYS,
    {"output_pad", VD_KEY_INT, offsetof(conv, output_pad), 0, -1024, 1024, false,
     "extra rows/columns on the bottom/right of the output (negative: cropped there)"},
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

static int32_t kh_of(const conv *c)
{
    return c->kernel_h ? c->kernel_h : c->kernel;
}

static int32_t kw_of(const conv *c)
{
    return c->kernel_w ? c->kernel_w : c->kernel;
}

static int32_t sh_of(const conv *c)
{
    return c->stride_h ? c->stride_h : c->stride;
}

static int32_t sw_of(const conv *c)
{
    return c->stride_w ? c->stride_w : c->stride;
}

static int32_t ph_of(const conv *c)
{
    return c->pad_h >= 0 ? c->pad_h : c->pad;
}

static int32_t pw_of(const conv *c)
{
    return c->pad_w >= 0 ? c->pad_w : c->pad;
}

/* Checks shared by both families; in_ch is the layer's input channel count. */
static vd_status check_common(vd_layer *l, int64_t in_ch)
{
    conv *c = (conv *)l;
    if (l->in.ndim != 3)
        return vd_error_set(NULL, VD_ERR_SHAPE, "%s needs a (C, H, W) input", l->ops->type);
    if (in_ch % c->groups != 0 || c->filters % c->groups != 0)
        return vd_error_set(NULL, VD_ERR_SHAPE,
                            "groups=%d must divide both the input channels (%lld) and "
                            "filters (%d)",
                            (int)c->groups, (long long)in_ch, (int)c->filters);
    return VD_OK;
}

static vd_status conv_init(vd_layer *l)
{
    l->fused_rectifier = ((conv *)l)->relu != 0;
    ((conv *)l)->ws_cap = VD_CONV_WS_CAP;
    return VD_OK;
}

static vd_status conv_reshape(vd_layer *l)
{
    conv *c = (conv *)l;
    vd_status st = check_common(l, l->in.d[0]);
    if (st != VD_OK) return st;
    vd_conv_geom g = {(int32_t)l->in.d[0],
                      (int32_t)l->in.d[1],
                      (int32_t)l->in.d[2],
                      c->filters,
                      0,
                      0,
                      kh_of(c),
                      kw_of(c),
                      sh_of(c),
                      sw_of(c),
                      ph_of(c),
                      pw_of(c),
                      c->dilation,
                      c->dilation,
                      c->groups};
    g.P = vd_conv_out_size(g.H, g.R, g.stride_h, g.pad_h, g.dil_h);
    g.Q = vd_conv_out_size(g.W, g.S, g.stride_w, g.pad_w, g.dil_w);
    if (g.P < 1 || g.Q < 1)
        return vd_error_set(NULL, VD_ERR_SHAPE,
                            "kernel %dx%d (dilation %d) does not fit the %dx%d input with "
                            "padding %d",
                            (int)g.R, (int)g.S, (int)c->dilation, (int)g.H, (int)g.W, (int)g.pad_h);
    c->g = g;
    for (int p = 0; p < VD_CONV_N_PASSES; p++) c->algo[p] = -1;
    l->out.ndim = 3;
    l->out.d[0] = g.K;
    l->out.d[1] = g.P;
    l->out.d[2] = g.Q;
    l->n_params = 0;
    size_t rs = (size_t)g.R * (size_t)g.S, cg = (size_t)(g.C / g.groups);
    st = vd_layer_param(l, NULL, "weight", 4, (int64_t[]){g.K, (int64_t)cg, g.R, g.S}, VD_INIT_AUTO,
                        cg * rs, (size_t)g.K / (size_t)g.groups * rs);
    if (st == VD_OK && c->bias)
        st = vd_layer_param(l, NULL, "bias", 1, (int64_t[]){g.K}, VD_INIT_ZERO, cg * rs,
                            (size_t)g.K / (size_t)g.groups * rs);
    return st;
}

/* PyTorch's ConvTranspose2d: out = (in - 1) * stride - 2 * pad + dil * (k - 1) + op + 1,
 * with output_pad smaller than the stride or the dilation. A negative output_pad crops
 * -op more rows/columns at the bottom/right (ONNX's pads with end > begin): the
 * transposed convolution's last windows then reach past the padded input, which every
 * algorithm bounds-checks like padding (tests/test_conv.c forces each one on such
 * geometries). */
static vd_status deconv_reshape(vd_layer *l)
{
    conv *c = (conv *)l;
    vd_status st = check_common(l, l->in.d[0]);
    if (st != VD_OK) return st;
    int32_t sh = sh_of(c), sw = sw_of(c), ph = ph_of(c), pw = pw_of(c);
    if ((c->output_pad >= sh || c->output_pad >= sw) && c->output_pad >= c->dilation)
        return vd_error_set(NULL, VD_ERR_SHAPE,
                            "output_pad=%d must be smaller than the stride (%d, %d) or the "
                            "dilation (%d)",
                            (int)c->output_pad, (int)sh, (int)sw, (int)c->dilation);
    int32_t R = kh_of(c), S = kw_of(c);
    int64_t H = l->in.d[1], W = l->in.d[2];
    int64_t Ho = (H - 1) * sh - 2 * (int64_t)ph + (int64_t)c->dilation * (R - 1) +
                 c->output_pad + 1;
    int64_t Wo = (W - 1) * sw - 2 * (int64_t)pw + (int64_t)c->dilation * (S - 1) +
                 c->output_pad + 1;
    if (Ho < 1 || Wo < 1 || Ho > (1 << 24) || Wo > (1 << 24))
        return vd_error_set(NULL, VD_ERR_SHAPE, "output would be %lldx%lld", (long long)Ho,
                            (long long)Wo);
    vd_conv_geom g = {c->filters, (int32_t)Ho, (int32_t)Wo, (int32_t)l->in.d[0], (int32_t)H,
                      (int32_t)W, R,           S,           sh,                  sw,
                      ph,         pw,          c->dilation, c->dilation,         c->groups};
    c->g = g;
    for (int p = 0; p < VD_CONV_N_PASSES; p++) c->algo[p] = -1;
    l->out.ndim = 3;
    l->out.d[0] = c->filters;
    l->out.d[1] = Ho;
    l->out.d[2] = Wo;
    l->n_params = 0;
    /* weight (in, out / groups, R, S). Each output sees in/groups * R*S weights (fewer
     * with stride > 1); fan_out counts the outputs one input reaches. */
    size_t rs = (size_t)R * (size_t)S, kin = (size_t)(g.K / g.groups);
    size_t kout = (size_t)(g.C / g.groups);
    st = vd_layer_param(l, NULL, "weight", 4, (int64_t[]){g.K, (int64_t)kout, R, S}, VD_INIT_AUTO,
                        kin * rs, kout * rs);
    if (st == VD_OK && c->bias)
        st = vd_layer_param(l, NULL, "bias", 1, (int64_t[]){c->filters}, VD_INIT_ZERO, kin * rs,
                            kout * rs);
    return st;
}

static void set_algo_names(conv *c)
{
    const char *nm[VD_CONV_N_PASSES];
    for (int p = 0; p < VD_CONV_N_PASSES; p++)
        nm[p] = c->algo[p] >= 0 ? vd_conv_algos[c->algo[p]]->name : "-";
    snprintf(c->algo_names, sizeof(c->algo_names), "%s/%s/%s", nm[0], nm[1], nm[2]);
}

/* One pass over s->n images with the layer's algorithm for it, in chunks whose workspace
 * fits the cap; *done receives the images whose chunks completed. */
static vd_status run_pass(conv *c, const vd_step *s, vd_conv_pass pass, vd_conv_io io,
                          bool *epi_done, size_t *done)
{
    vd_context *ctx = s->ctx;
    size_t n = (size_t)s->n, cap = c->ws_cap / sizeof(float);
    int a = c->algo[pass];
    *done = 0;
    bool epi = pass == VD_CONV_FWD && vd_conv_algos[a]->epilogue;
    if (!epi) io.b = NULL, io.b_off = 0, io.relu = false;
    if (epi_done) *epi_done = epi;
    size_t chunk = vd_conv_chunk(ctx, a, &c->g, pass, n, cap);
    size_t need = vd_conv_algos[a]->workspace(ctx, &c->g, pass, chunk);
    bool fresh = true;
    vd_status st = vd_layer_buf_reserve(&c->ws, ctx, (need ? need : 1) * sizeof(float), &fresh);
    if (st != VD_OK) return st;
    io.ws = c->ws.mem;
    io.ws_off = 0;
    /* Inference with unchanged weights: what the last such pass derived from them into ws
     * is still there (training passes and other passes overwrite ws, and forget it). */
    size_t first = n < chunk ? n : chunk;
    io.w_ready = !s->train && s->wver && !fresh && c->ws_holds.wver == s->wver &&
                 c->ws_holds.algo == a && c->ws_holds.pass == (int)pass &&
                 c->ws_holds.chunk == first && c->ws_holds.w == io.w &&
                 c->ws_holds.w_off == io.w_off;
    c->ws_holds.wver = 0;
    st = vd_conv_run_chunks(ctx, a, &c->g, pass, n, chunk, &io, done);
    if (st == VD_OK && !s->train && s->wver) {
        c->ws_holds.wver = s->wver;
        c->ws_holds.algo = a, c->ws_holds.pass = (int)pass, c->ws_holds.chunk = first;
        c->ws_holds.w = io.w, c->ws_holds.w_off = io.w_off;
    }
    return st;
}

/* Run one convolution pass of the layer's geometry over s->n images with the chosen
 * algorithm (choosing it on first use). An epilogue in io (b, relu: conv2d's forward) goes
 * to an algorithm that applies it in its own store, and *epi_done says so; others get io
 * without it. epi_done may be NULL when io has none.
 *
 * clFFT is unmaintained and fails on some lengths and devices (issue 4), so a chosen (not
 * forced) fft pass that returns VD_ERR_FFT switches this layer's pass to im2col, which
 * applies to every geometry, logs why, and runs the pass again with it when that is safe:
 * nothing was written yet (an FFT chunk writes its output only in its last kernel, after
 * every clFFT call, so the failing chunk wrote nothing), or the pass overwrites its output
 * (beta 0, not the accumulating filter pass). Otherwise the step fails with clFFT's
 * message and the next one runs im2col. A forced fft fails loudly, as asked. */
static vd_status conv_pass(conv *c, const vd_step *s, vd_conv_pass pass, vd_conv_io io,
                           bool *epi_done)
{
    vd_context *ctx = s->ctx;
    if (c->algo[pass] < 0) {
        vd_status st = vd_conv_select(ctx, &c->g, pass, (size_t)s->n, c->ws_cap / sizeof(float),
                                      &c->algo[pass]);
        if (st != VD_OK) return st;
        c->forced[pass] = vd_conv_algo_forced(c->algo[pass]);
        set_algo_names(c);
    }
    size_t done = 0;
    vd_status st = run_pass(c, s, pass, io, epi_done, &done);
    if (st != VD_ERR_FFT || vd_conv_algos[c->algo[pass]] != &vd_conv_algo_fft || c->forced[pass])
        return st;
    /* The switch is not written to the tuning cache: the failure may be transient (out of
     * resources), and a record would keep FFT off for this shape in every later run. A new
     * net (or a rebuilt one) chooses again. */
    char why[512];
    snprintf(why, sizeof(why), "%s", vd_last_error(ctx));
    c->algo[pass] = 0;
    c->forced[pass] = false;
    set_algo_names(c);
    bool overwrites = pass != VD_CONV_BWD_FILTER && io.beta == 0.0f;
    bool rerun = done == 0 || overwrites;
    vd_log(ctx, 0, "layer '%s': %s pass: fft failed: %s; im2col from now on%s", c->base.name,
           vd_conv_pass_name(pass), why,
           rerun ? ", pass rerun" : " (this step fails: part of its output was written)");
    if (!rerun)
        return vd_error_set(ctx, st, "%s (layer '%s' %s pass: im2col from the next step)", why,
                            c->base.name, vd_conv_pass_name(pass));
    return run_pass(c, s, pass, io, epi_done, &done);
}

/* The buffers of one pass (conv_algo.h); deconv2d passes its own tensors in the roles of
 * the convolution it transposes. */
static vd_conv_io io_fwd(vd_buf x, vd_buf w, vd_buf y, float beta)
{
    vd_conv_io io = {0};
    io.x = x.mem, io.x_off = x.off, io.w = w.mem, io.w_off = w.off;
    io.y = y.mem, io.y_off = y.off, io.beta = beta;
    return io;
}

static vd_conv_io io_bwd_data(vd_buf dy, vd_buf w, vd_buf dx, float beta)
{
    vd_conv_io io = {0};
    io.dy = dy.mem, io.dy_off = dy.off, io.w = w.mem, io.w_off = w.off;
    io.dx = dx.mem, io.dx_off = dx.off, io.beta = beta;
    return io;
}

static vd_conv_io io_bwd_filter(vd_buf x, vd_buf dy, vd_buf dw)
{
    vd_conv_io io = {0};
    io.x = x.mem, io.x_off = x.off, io.dy = dy.mem, io.dy_off = dy.off;
    io.dw = dw.mem, io.dw_off = dw.off;
    return io;
}

static vd_buf weight(vd_layer *l, const vd_step *s)
{
    return vd_buf_at(s->params, l->params[0].offset);
}

/* The epilogue over the layer's output y (n, out channels, out plane), for both families:
 * y += b, or with relu y = max(y + b, 0), in one pass (no pass at all without b and
 * ReLU). */
static vd_status epilogue_fwd(vd_layer *l, const vd_step *s, vd_buf b, bool relu, vd_buf y)
{
    if (!b.mem && !relu) return VD_OK;
    size_t n = (size_t)s->n, ch = (size_t)l->out.d[0];
    size_t plane = (size_t)l->out.d[1] * (size_t)l->out.d[2];
    if (relu) return vd_op_bias_relu_nchw_fwd(s->ctx, n, ch, plane, b.mem, b.off, y.mem, y.off);
    return vd_op_bias_nchw_fwd(s->ctx, n, ch, plane, b.mem, b.off, y.mem, y.off);
}

static vd_buf bias(vd_layer *l, const vd_step *s)
{
    return ((conv *)l)->bias ? vd_buf_at(s->params, l->params[1].offset) : (vd_buf){NULL, 0};
}

/* Its backward, before the convolution's passes: db += sum of dy, and with relu = 1 dy is
 * first masked where y <= 0 - in place, in the same pass - so the data and filter passes
 * read the masked gradient. dy is the layer's own output gradient: nothing reads it after
 * this layer's backward, and masking twice gives the same values. */
static vd_status epilogue_bwd(vd_layer *l, const vd_step *s, vd_buf y, vd_buf dy)
{
    conv *c = (conv *)l;
    if (!c->bias && !c->relu) return VD_OK;
    size_t n = (size_t)s->n, ch = (size_t)l->out.d[0];
    size_t plane = (size_t)l->out.d[1] * (size_t)l->out.d[2];
    vd_buf db = c->bias ? vd_buf_at(s->grads, l->params[1].offset) : (vd_buf){NULL, 0};
    if (c->relu)
        return vd_op_relu_bias_nchw_bwd(s->ctx, n, ch, plane, y.mem, y.off, dy.mem, dy.off, db.mem,
                                        db.off);
    return vd_op_bias_nchw_bwd(s->ctx, n, ch, plane, dy.mem, dy.off, db.mem, db.off);
}

/* The bias and ReLU ride on the algorithm's own output store where it has one (direct);
 * else one epilogue pass follows. At inference with a folded batchnorm, the weights and
 * bias are the folded ones (made again whenever the weights version moved: any parameter
 * or statistics write) and the ReLU is the norm's. */
static vd_status conv_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    conv *c = (conv *)l;
    vd_buf w = weight(l, s), b = bias(l, s);
    bool relu = c->relu != 0;
    if (c->bn && !s->train) {
        size_t K = (size_t)c->g.K, per = l->params[0].numel / K;
        bool fresh = true;
        vd_status st =
            vd_layer_buf_reserve(&c->folded, s->ctx, (K * per + K) * sizeof(float), &fresh);
        if (st == VD_OK && (fresh || !s->wver || c->folded_ver != s->wver)) {
            c->folded_ver = 0;
            st = vd_layer_batchnorm_fold(c->bn, s, K, per, w, b, (vd_buf){c->folded.mem, 0});
            if (st == VD_OK) c->folded_ver = s->wver;
        }
        if (st != VD_OK) return st;
        w = (vd_buf){c->folded.mem, 0};
        b = (vd_buf){c->folded.mem, K * per};
        relu = c->bn->fused_rectifier;
    }
    vd_conv_io io = io_fwd(x, w, y, 0.0f);
    io.b = b.mem, io.b_off = b.off, io.relu = relu;
    bool done = false;
    vd_status st = conv_pass(c, s, VD_CONV_FWD, io, &done);
    if (st == VD_OK && !done) st = epilogue_fwd(l, s, b, relu, y);
    return st;
}

static vd_status conv_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                               vd_buf dx, float beta)
{
    vd_buf w = weight(l, s), dw = vd_buf_at(s->grads, l->params[0].offset);
    vd_status st = epilogue_bwd(l, s, y, dy);
    if (st == VD_OK)
        st = conv_pass((conv *)l, s, VD_CONV_BWD_FILTER, io_bwd_filter(x, dy, dw), NULL);
    if (st == VD_OK && dx.mem)
        st = conv_pass((conv *)l, s, VD_CONV_BWD_DATA, io_bwd_data(dy, w, dx, beta), NULL);
    return st;
}

/* y = convolution backward-data of x, i.e. x plays dY and y plays dX. */
static vd_status deconv_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    vd_buf w = weight(l, s);
    vd_status st = conv_pass((conv *)l, s, VD_CONV_BWD_DATA, io_bwd_data(x, w, y, 0.0f), NULL);
    if (st == VD_OK) st = epilogue_fwd(l, s, bias(l, s), ((conv *)l)->relu != 0, y);
    return st;
}

/* dW: the convolution's filter gradient with input dy and output gradient x;
 * dx: the convolution's forward of dy. */
static vd_status deconv_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                                 vd_buf dx, float beta)
{
    vd_buf w = weight(l, s), dw = vd_buf_at(s->grads, l->params[0].offset);
    vd_status st = epilogue_bwd(l, s, y, dy);
    if (st == VD_OK)
        st = conv_pass((conv *)l, s, VD_CONV_BWD_FILTER, io_bwd_filter(dy, x, dw), NULL);
    if (st == VD_OK && dx.mem)
        st = conv_pass((conv *)l, s, VD_CONV_FWD, io_fwd(dy, w, dx, beta), NULL);
    return st;
}

static const char *conv_algo(const vd_layer *l)
{
    const conv *c = (const conv *)l;
    return c->algo_names[0] ? c->algo_names : "-";
}

static void conv_destroy(vd_layer *l)
{
    conv *c = (conv *)l;
    vd_layer_buf_release(&c->ws);
    vd_layer_buf_release(&c->folded);
}

/* A fused ReLU counts one per output element, as the [relu] layer it replaces does. */
static uint64_t relu_flops(const vd_layer *l)
{
    return ((const conv *)l)->relu ? (uint64_t)vd_shape_numel(&l->out) : 0;
}

/* Each weight is used once per output pixel (conv2d) or input pixel (deconv2d). */
static uint64_t conv_flops(const vd_layer *l)
{
    return 2 * (uint64_t)l->params[0].numel * (uint64_t)(l->out.d[1] * l->out.d[2]) + relu_flops(l);
}

static uint64_t deconv_flops(const vd_layer *l)
{
    return 2 * (uint64_t)l->params[0].numel * (uint64_t)(l->in.d[1] * l->in.d[2]) + relu_flops(l);
}

bool vd_layer_conv_set_ws_cap(vd_layer *l, size_t bytes)
{
    if (!l || bytes == 0 || (l->ops != &vd_layer_conv2d && l->ops != &vd_layer_deconv2d))
        return false;
    ((conv *)l)->ws_cap = bytes;
    return true;
}

bool vd_layer_conv_fold_bn(vd_layer *l, vd_layer *bn)
{
    if (!l || l->ops != &vd_layer_conv2d) return false;
    conv *c = (conv *)l;
    c->bn = NULL;
    if (!bn || bn->ops != &vd_layer_batchnorm || c->relu || bn->in.d[0] != c->filters)
        return false;
    c->bn = bn;
    return true;
}

bool vd_layer_conv_geom(const vd_layer *l, vd_conv_geom *g)
{
    if (!l || !g || (l->ops != &vd_layer_conv2d && l->ops != &vd_layer_deconv2d)) return false;
    *g = ((const conv *)l)->g;
    return true;
}

const vd_layer_ops vd_layer_conv2d = {
    .type = "conv2d",
    .size = sizeof(conv),
    .keys = conv_keys,
    .init = conv_init,
    .reshape = conv_reshape,
    .forward = conv_forward,
    .backward = conv_backward,
    .destroy = conv_destroy,
    .flops = conv_flops,
    .algo = conv_algo,
};

const vd_layer_ops vd_layer_deconv2d = {
    .type = "deconv2d",
    .size = sizeof(conv),
    .keys = deconv_keys,
    .init = conv_init,
    .reshape = deconv_reshape,
    .forward = deconv_forward,
    .backward = deconv_backward,
    .destroy = conv_destroy,
    .flops = deconv_flops,
    .algo = conv_algo,
};
