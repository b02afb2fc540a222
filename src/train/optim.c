/* optim.c - optimizers over the parameter arena: one kernel launch updates every
 * parameter of the net (SGD with momentum/Nesterov, Adam, AdamW). */
#include <math.h>
#include <string.h>

#include "../net/net.h"

void vd_optim_options_init(vd_optim_options *opt, vd_optim_kind kind)
{
    if (!opt) return;
    memset(opt, 0, sizeof(*opt));
    opt->kind = kind;
    opt->lr = kind == VD_OPTIM_SGD ? 0.01f : 0.001f;
    opt->momentum = 0.9f;
    opt->beta1 = 0.9f;
    opt->beta2 = 0.999f;
    opt->eps = 1e-8f;
}

static vd_status check_lr(vd_context *ctx, float lr)
{
    if (!(lr > 0.0f) || !isfinite(lr))
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "learning rate must be > 0, got %g", lr);
    return VD_OK;
}

vd_status vd_net_set_optimizer(vd_net *net, const vd_optim_options *opt)
{
    if (!net || !opt)
        return vd_error_set(net ? net->ctx : NULL, VD_ERR_INVALID_ARG,
                            "vd_net_set_optimizer: NULL argument");
    vd_context *ctx = net->ctx;
    if (!net->built)
        return vd_error_set(ctx, VD_ERR_STATE, "vd_net_set_optimizer: build the net first");
    vd_status st = check_lr(ctx, opt->lr);
    if (st != VD_OK) return st;
    if (opt->kind < VD_OPTIM_SGD || opt->kind > VD_OPTIM_ADAMW)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "unknown optimizer %d", (int)opt->kind);
    if (!(opt->momentum >= 0.0f && opt->momentum < 1.0f) || !(opt->beta1 >= 0 && opt->beta1 < 1) ||
        !(opt->beta2 >= 0 && opt->beta2 < 1) || !(opt->eps > 0) || !(opt->weight_decay >= 0))
        return vd_error_set(ctx, VD_ERR_INVALID_ARG,
                            "optimizer: momentum and betas must be in [0,1), eps > 0, "
                            "weight_decay >= 0");
    if (!(opt->clip_norm >= 0.0f) || !isfinite(opt->clip_norm))
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "optimizer: clip_norm must be >= 0");
    if (opt->kind == VD_OPTIM_SGD && opt->nesterov && !(opt->momentum > 0.0f))
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "optimizer: Nesterov needs momentum > 0");
    bool need_m = opt->kind != VD_OPTIM_SGD || opt->momentum > 0.0f;
    bool need_v = opt->kind != VD_OPTIM_SGD;
    size_t bytes = net->arena * sizeof(float);
    if (need_m && !net->m) VD_TRY(vd_net_alloc(net, bytes, &net->m));
    if (need_v && !net->v) VD_TRY(vd_net_alloc(net, bytes, &net->v));
    if (opt->clip_norm > 0.0f && !net->clip_work)
        VD_TRY(vd_net_alloc(net, VD_CLIP_PARTS * sizeof(float), &net->clip_work));
    if (net->m) VD_TRY(vd_op_fill(ctx, net->arena, 0.0f, net->m, 0));
    if (net->v) VD_TRY(vd_op_fill(ctx, net->arena, 0.0f, net->v, 0));
    net->optim = *opt;
    net->has_optim = true;
    net->t = 0;
done:
    return st;
}

vd_status vd_net_set_lr(vd_net *net, float lr)
{
    if (!net) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_net_set_lr: net is NULL");
    if (!net->has_optim)
        return vd_error_set(net->ctx, VD_ERR_STATE, "vd_net_set_lr: no optimizer is set");
    vd_status st = check_lr(net->ctx, lr);
    if (st == VD_OK) net->optim.lr = lr;
    return st;
}

vd_status vd_optim_update(vd_net *net)
{
    const vd_optim_options *o = &net->optim;
    if (o->clip_norm > 0.0f) {
        vd_status st =
            vd_op_clip_norm(net->ctx, net->arena, o->clip_norm, net->grads, 0, net->clip_work);
        if (st != VD_OK) return st;
    }
    net->t++;
    if (o->kind == VD_OPTIM_SGD)
        return vd_op_sgd(net->ctx, net->arena, net->params, 0, net->grads, 0, net->m, 0, o->lr,
                         o->momentum, o->weight_decay, o->nesterov);
    float bc1 = (float)(1.0 - pow((double)o->beta1, (double)net->t));
    float bc2 = (float)(1.0 - pow((double)o->beta2, (double)net->t));
    return vd_op_adam(net->ctx, net->arena, net->params, 0, net->grads, 0, net->m, 0, net->v, 0,
                      o->lr, o->beta1, o->beta2, o->eps, o->weight_decay, o->kind == VD_OPTIM_ADAMW,
                      bc1, bc2);
}
