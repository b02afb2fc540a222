/* onnx_export.h - internal hooks of the ONNX export (onnx_export.c); the API itself is
 * vd_net_save_onnx in include/verdant.h. */
#ifndef VD_ONNX_EXPORT_H
#define VD_ONNX_EXPORT_H

#include <stddef.h>

/* The largest model file vd_net_save_onnx writes, in bytes: protobuf messages are limited
 * to 2 GiB (INT32_MAX bytes), which is the default; larger models would need ONNX's
 * external-data files, which the export does not write, so they are refused. Tests only:
 * set a small limit to exercise that refusal; 0 restores the default. Not thread-safe. */
void vd_onnx_export_set_size_limit(size_t bytes);

#endif /* VD_ONNX_EXPORT_H */
