/* meter.h - energy meters: one small interface over the sensors a machine may have, found
 * at run time. Energy is measured, never estimated: where no sensor exists the answer is
 * "unavailable" with the reason.
 *
 * Backends (one file each):
 *   rapl.c   Intel/AMD CPU package and DRAM energy from /sys/class/powercap (RAPL);
 *   nvml.c   NVIDIA GPUs through NVML, loaded with dlopen("libnvidia-ml.so.1"): the total
 *            energy counter, else sampled board power integrated on a thread;
 *   hwmon.c  AMD/Intel GPUs through /sys/class/hwmon (energy*_input, else sampled
 *            power*_average / power*_input integrated on a thread).
 * meter.c holds the shared part: cumulative joules under a lock, the polling thread that
 * keeps wrapping counters from wrapping twice unseen and integrates sampled power, the
 * choice of meter for a device, and the public calls (vd_meters_probe, vd_context_meter,
 * vd_energy_span_begin/end).
 *
 * Overrides (for tests and unusual machines):
 *   VERDANT_SYSFS_ROOT  prefix for /sys paths (a fake tree: <root>/sys/class/powercap/...)
 *   VERDANT_NVML_LIB    NVML library to dlopen instead of libnvidia-ml.so.1
 *   VERDANT_METER       off | rapl | nvml | hwmon: use only that kind (default: by device)
 *
 * For the algorithm and tuning choice (VERDANT_TUNE_FOR=energy, src/ops/conv_select.c):
 * take the context's meter with vd_energy_meter(); if it returns one, finish the queue,
 * read joules, run the candidate's timed repetitions, finish, read again: the difference
 * is that candidate's energy, to be minimised instead of time. Meters update at their own
 * pace (RAPL about every millisecond, NVML's counter and hwmon's averages every 10 to
 * 100 ms or more), so a candidate needs repetitions lasting well beyond that (say 100x)
 * for the difference to mean anything. Without a meter (VD_ERR_UNSUPPORTED) the choice
 * stays on time and should say so once at verbose level. Not here: anything that
 * interprets joules (reports are in src/train and src/cli). */
#ifndef VD_ENERGY_METER_H
#define VD_ENERGY_METER_H

#include <pthread.h>

#include "../runtime/runtime.h"

typedef struct vd_meter vd_meter;

/* What a backend provides. poll is called with the meter's lock held, from reads and from
 * the polling thread; it adds the energy since its previous call to m->joules.
 * Returns VD_OK, or an error with a message in m->error. */
typedef struct vd_meter_ops {
    const char *kind; /* "rapl", "nvml", "hwmon" */
    vd_status (*poll)(vd_meter *m);
    void (*close)(vd_meter *m); /* frees m->state; may be NULL */
} vd_meter_ops;

struct vd_meter {
    const vd_meter_ops *ops;
    void *state;
    char name[32];     /* kind, e.g. "rapl" */
    char detail[256];  /* what is counted: "package-0 + dram-0 (intel-rapl:0, ...)" */
    double joules;     /* cumulative since open */
    char error[512];   /* the last poll failure */
    vd_status failed;  /* first poll failure, sticky (VD_OK while healthy) */
    int poll_ms;       /* polling-thread period; 0: no thread */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool has_thread, stop;
};

/* ---------------------------------------------------------------- the interface */

/* Open the best meter for ctx's device: NVML for an NVIDIA GPU, hwmon for an AMD or Intel
 * GPU, RAPL for a CPU device (VERDANT_METER forces one kind, "off" none). Returns
 * VD_ERR_UNSUPPORTED with the reason in vd_last_error(ctx) when there is none. The meter
 * starts at 0 J. Thread-safe to read; the caller closes it. */
vd_status vd_meter_open(vd_context *ctx, vd_meter **out);
/* Cumulative joules since open. Non-blocking (reads a file or a driver counter). A meter
 * whose sensor failed keeps failing: VD_ERR_IO / VD_ERR_UNSUPPORTED with the reason. */
vd_status vd_meter_read(vd_meter *m, double *joules);
void vd_meter_close(vd_meter *m);

/* The context's shared meter, opened on first use and closed with the context; *out is
 * NULL when there is none, and then why (may be NULL) receives the reason. Never fails:
 * an unavailable meter is an answer, not an error. */
void vd_energy_meter(vd_context *ctx, vd_meter **out, const char **why);

/* Epoch accounting for the training loop: mark before, fill the vd_epoch_stats energy
 * fields after (has_energy 0 and the reason in energy_note when there is no meter or it
 * failed). */
typedef struct vd_energy_mark {
    vd_meter *meter;
    double j0;
    const char *why;
} vd_energy_mark;
void vd_energy_mark_begin(vd_context *ctx, vd_energy_mark *mk);
void vd_energy_mark_end(const vd_energy_mark *mk, vd_epoch_stats *out);

/* ---------------------------------------------------------------- backends */

/* Each opener returns VD_OK with *out set, or VD_ERR_UNSUPPORTED / VD_ERR_IO with the
 * reason in why (never touching any context's error slot). root is the sysfs prefix ("" for
 * the real /sys). */
vd_status vd_meter_open_rapl(const char *root, vd_meter **out, char *why, size_t cap);
/* lib: library to dlopen (NULL: libnvidia-ml.so.1). Chooses the NVML device whose PCI bus
 * and device number match pci_bus/pci_dev (-1: unknown), else the one whose name
 * contains name, else the only one. */
vd_status vd_meter_open_nvml(const char *lib, int pci_bus, int pci_dev, const char *name,
                             vd_meter **out, char *why, size_t cap);
/* driver: hwmon "name" to look for ("amdgpu", "i915", "xe"; NULL: any of them). */
vd_status vd_meter_open_hwmon(const char *root, const char *driver, vd_meter **out, char *why,
                              size_t cap);

/* Shared by the backends (meter.c): allocate a meter for ops with state, and start the
 * polling thread when poll_ms > 0 (after a first poll that sets the baseline). On failure
 * everything including state (through ops->close) is released and why is set. */
vd_status vd_meter_start(const vd_meter_ops *ops, void *state, int poll_ms, const char *detail,
                         vd_meter **out, char *why, size_t cap);
/* VERDANT_SYSFS_ROOT or "". */
const char *vd_sysfs_root(void);
/* Read a whole small text file into buf (NUL-terminated, trailing newline kept). 0 on
 * success, else errno (EISDIR for a directory, EACCES, ENOENT ...). */
int vd_read_small_file(const char *path, char *buf, size_t cap);
/* Parse an unsigned decimal integer file; 0 on success, else errno (EINVAL: not a number). */
int vd_read_u64_file(const char *path, uint64_t *out);
/* Monotonic seconds. */
double vd_meter_now(void);

#endif /* VD_ENERGY_METER_H */
