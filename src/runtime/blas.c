/* blas.c - the only file that calls CLBlast. Converts its status codes to vd_status and
 * keeps the raw code and the call's shape in the message. */
#include "runtime.h" /* first: it selects the OpenCL API version */

#include <clblast_c.h>

#include "profile.h"

vd_status vd_blas_sgemm(vd_context *ctx, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                        float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                        size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc)
{
    if (m == 0 || n == 0) return VD_OK;
    if (!a || !b || !c) return vd_error_set(ctx, VD_ERR_INVALID_ARG, "sgemm: NULL buffer");
    CLBlastStatusCode s = (CLBlastStatusCode)vd_fault(ctx, "CLBlastSgemm");
    if (s == CLBlastSuccess)
        s = CLBlastSgemm(CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                     trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a, a_off,
                     lda, b, b_off, ldb, beta, c, c_off, ldc, &ctx->queue,
                     vd_profile_event(ctx) /* NULL unless profiling */);
    if (s == CLBlastSuccess) return VD_OK;
    vd_status st =
        (s == CLBlastInsufficientMemoryA || s == CLBlastInsufficientMemoryB ||
         s == CLBlastInsufficientMemoryC || s == CLBlastInvalidDimension ||
         s == CLBlastInvalidLeadDimA || s == CLBlastInvalidLeadDimB || s == CLBlastInvalidLeadDimC)
            ? VD_ERR_SHAPE
        : s == -4 /* CL_MEM_OBJECT_ALLOCATION_FAILURE */ || s == -6 ? VD_ERR_NO_MEMORY
                                                                    : VD_ERR_BLAS;
    return vd_error_set(ctx, st,
                        "CLBlastSgemm(%c%c, m=%zu n=%zu k=%zu, lda=%zu ldb=%zu ldc=%zu, offsets "
                        "%zu/%zu/%zu) -> %d",
                        trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, lda, ldb, ldc, a_off,
                        b_off, c_off, (int)s);
}
