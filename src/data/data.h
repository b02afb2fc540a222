/* data.h - dataset functions the training loop uses beyond the public API: batches with
 * seeded augmentation. */
#ifndef VD_DATA_H
#define VD_DATA_H

#include "../runtime/runtime.h"

/* Augmentation of image batches (done on the host while the device runs the previous
 * step). Sample i of a batch draws Philox(seed, stream) block pos[i] (its position in the
 * epoch), so an epoch's augmentations are a pure function of (seed, epoch): resuming from
 * a checkpoint repeats them exactly. */
typedef struct vd_augment {
    int32_t crop_pad; /* > 0: pad by this many black pixels and crop back at a random offset */
    int32_t flip;     /* nonzero: mirror left-right with probability 1/2 */
    uint64_t seed, stream;
} vd_augment;

/* vd_dataset_batch with augmentation; pos[i] is sample i's position in the epoch. */
vd_status vd_dataset_batch_augmented(const vd_dataset *ds, const uint32_t *idx,
                                     const uint64_t *pos, size_t n, float *x, int32_t *y,
                                     const vd_augment *aug);

#endif /* VD_DATA_H */
