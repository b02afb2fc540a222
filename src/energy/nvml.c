/* nvml.c - NVIDIA GPU energy through NVML, loaded at run time with dlopen so that Verdant
 * neither needs the CUDA toolkit to build nor the NVIDIA driver to run.
 *
 * nvmlDeviceGetTotalEnergyConsumption (millijoules since the driver loaded, Volta and
 * newer) is read directly when the device supports it. Otherwise nvmlDeviceGetPowerUsage
 * (milliwatts, the board's power sensor) is sampled every 50 ms by the meter's thread and
 * integrated with the trapezoid rule, and the detail says so. Counted: the whole GPU board
 * (chip, memory, fans, VRM losses) as the driver measures it; not the host CPU, not
 * PCIe traffic on the host side. The OpenCL device is matched to an NVML device by PCI
 * bus/device (cl_nv_device_attribute_query), else by name, else it is the only one.
 * NVML's header is not needed: the few declarations below follow nvml.h (the _v2/_v3
 * entry points and nvmlPciInfo_t have been stable since CUDA 10). Not here: the choice of
 * meter (meter.c). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter.h"

#define NVML_POWER_POLL_MS 50

typedef int nvmlReturn_t; /* 0 success, 3 not supported, 4 no permission */
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlPciInfo_st {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

typedef struct nvml_api {
    void *lib;
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*shutdown)(void);
    const char *(*error_string)(nvmlReturn_t);
    nvmlReturn_t (*count)(unsigned int *);
    nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t *);
    nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*pci)(nvmlDevice_t, nvmlPciInfo_t *);
    nvmlReturn_t (*energy)(nvmlDevice_t, unsigned long long *);
    nvmlReturn_t (*power)(nvmlDevice_t, unsigned int *);
} nvml_api;

typedef struct nvml_state {
    nvml_api api;
    bool initialised;
    nvmlDevice_t dev;
    bool use_energy;
    bool primed;
    unsigned long long prev_mj;
    double prev_w, t_prev;
} nvml_state;

static const char *nvml_err(const nvml_api *a, nvmlReturn_t r)
{
    const char *s = a->error_string ? a->error_string(r) : NULL;
    return s ? s : "unknown NVML error";
}

static vd_status nvml_poll(vd_meter *m)
{
    nvml_state *s = m->state;
    double t = vd_meter_now();
    if (s->use_energy) {
        unsigned long long mj = 0;
        nvmlReturn_t r = s->api.energy(s->dev, &mj);
        if (r != 0) {
            snprintf(m->error, sizeof(m->error),
                     "nvml: nvmlDeviceGetTotalEnergyConsumption -> %d (%s)", r, nvml_err(&s->api, r));
            return VD_ERR_IO;
        }
        if (s->primed) m->joules += mj >= s->prev_mj ? (double)(mj - s->prev_mj) * 1e-3 : 0.0;
        s->prev_mj = mj;
    } else {
        unsigned int mw = 0;
        nvmlReturn_t r = s->api.power(s->dev, &mw);
        if (r != 0) {
            snprintf(m->error, sizeof(m->error), "nvml: nvmlDeviceGetPowerUsage -> %d (%s)", r,
                     nvml_err(&s->api, r));
            return VD_ERR_IO;
        }
        double w = (double)mw * 1e-3;
        if (s->primed) m->joules += 0.5 * (s->prev_w + w) * (t - s->t_prev);
        s->prev_w = w;
    }
    s->t_prev = t;
    s->primed = true;
    return VD_OK;
}

static void nvml_close(vd_meter *m)
{
    nvml_state *s = m->state;
    if (!s) return;
    if (s->initialised && s->api.shutdown) s->api.shutdown();
    if (s->api.lib) dlclose(s->api.lib);
    free(s);
    m->state = NULL;
}

static const vd_meter_ops nvml_ops = {"nvml", nvml_poll, nvml_close};

static void *sym(void *lib, const char *a, const char *b)
{
    void *p = dlsym(lib, a);
    return p || !b ? p : dlsym(lib, b);
}

vd_status vd_meter_open_nvml(const char *lib, int pci_bus, int pci_dev, const char *name,
                             vd_meter **out, char *why, size_t cap)
{
    *out = NULL;
    const char *path = lib && *lib ? lib : "libnvidia-ml.so.1";
    nvml_state *s = calloc(1, sizeof(*s));
    vd_meter tmp = {.ops = &nvml_ops, .state = s};
    vd_status st = VD_ERR_UNSUPPORTED;
    if (!s) {
        snprintf(why, cap, "nvml: out of host memory");
        return VD_ERR_NO_MEMORY;
    }
    nvml_api *a = &s->api;
    a->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!a->lib) {
        const char *e = dlerror();
        snprintf(why, cap, "nvml: cannot load %s (%s): no NVIDIA driver", path, e ? e : "?");
        goto fail;
    }
    a->init = (nvmlReturn_t(*)(void))sym(a->lib, "nvmlInit_v2", "nvmlInit");
    a->shutdown = (nvmlReturn_t(*)(void))sym(a->lib, "nvmlShutdown", NULL);
    a->error_string = (const char *(*)(nvmlReturn_t))sym(a->lib, "nvmlErrorString", NULL);
    a->count = (nvmlReturn_t(*)(unsigned int *))sym(a->lib, "nvmlDeviceGetCount_v2",
                                                     "nvmlDeviceGetCount");
    a->handle = (nvmlReturn_t(*)(unsigned int, nvmlDevice_t *))sym(
        a->lib, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex");
    a->name = (nvmlReturn_t(*)(nvmlDevice_t, char *, unsigned int))sym(a->lib, "nvmlDeviceGetName",
                                                                      NULL);
    a->pci = (nvmlReturn_t(*)(nvmlDevice_t, nvmlPciInfo_t *))sym(
        a->lib, "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2");
    a->energy = (nvmlReturn_t(*)(nvmlDevice_t, unsigned long long *))sym(
        a->lib, "nvmlDeviceGetTotalEnergyConsumption", NULL);
    a->power = (nvmlReturn_t(*)(nvmlDevice_t, unsigned int *))sym(a->lib, "nvmlDeviceGetPowerUsage",
                                                                  NULL);
    if (!a->init || !a->shutdown || !a->count || !a->handle || !a->name ||
        (!a->energy && !a->power)) {
        snprintf(why, cap, "nvml: %s lacks the NVML entry points Verdant needs", path);
        goto fail;
    }
    nvmlReturn_t r = a->init();
    if (r != 0) {
        snprintf(why, cap, "nvml: nvmlInit -> %d (%s)", r, nvml_err(a, r));
        goto fail;
    }
    s->initialised = true;
    unsigned int n = 0;
    r = a->count(&n);
    if (r != 0 || n == 0) {
        snprintf(why, cap, "nvml: %s", r ? nvml_err(a, r) : "no NVIDIA device");
        goto fail;
    }
    /* Match the OpenCL device: PCI location, else name, else the only device. */
    int pick = -1, by_name = -1, name_matches = 0;
    char dev_name[96] = "", pick_name[96] = "";
    for (unsigned int i = 0; i < n; i++) {
        nvmlDevice_t d;
        if (a->handle(i, &d) != 0) continue;
        dev_name[0] = '\0';
        a->name(d, dev_name, sizeof(dev_name));
        dev_name[sizeof(dev_name) - 1] = '\0';
        nvmlPciInfo_t pi;
        if (pci_bus >= 0 && a->pci && a->pci(d, &pi) == 0 && (int)pi.bus == pci_bus &&
            (int)pi.device == pci_dev) {
            pick = (int)i;
            snprintf(pick_name, sizeof(pick_name), "%s", dev_name);
            break;
        }
        if (name && *name && (strstr(dev_name, name) || strstr(name, dev_name))) {
            if (by_name < 0) {
                by_name = (int)i;
                snprintf(pick_name, sizeof(pick_name), "%s", dev_name);
            }
            name_matches++;
        }
        if (i == 0 && n == 1) snprintf(pick_name, sizeof(pick_name), "%s", dev_name);
    }
    const char *how = "by PCI location";
    if (pick < 0 && pci_bus >= 0 && a->pci) {
        snprintf(why, cap, "nvml: no NVML device at PCI bus %d device %d among %u", pci_bus,
                 pci_dev, n);
        goto fail;
    }
    if (pick < 0 && name_matches == 1) {
        pick = by_name;
        how = "by name";
    }
    if (pick < 0 && n == 1) {
        pick = 0;
        how = "the only NVML device";
    }
    if (pick < 0 && !name && pci_bus < 0) { /* probing only: report the first */
        pick = 0;
        how = "the first NVML device";
        nvmlDevice_t d;
        if (a->handle(0, &d) == 0) a->name(d, pick_name, sizeof(pick_name));
        pick_name[sizeof(pick_name) - 1] = '\0';
    }
    if (pick < 0) {
        snprintf(why, cap, "nvml: %u NVIDIA devices and none matches '%s' alone", n,
                 name ? name : "");
        goto fail;
    }
    r = a->handle((unsigned int)pick, &s->dev);
    if (r != 0) {
        snprintf(why, cap, "nvml: nvmlDeviceGetHandleByIndex(%d) -> %d (%s)", pick, r,
                 nvml_err(a, r));
        goto fail;
    }
    unsigned long long mj;
    s->use_energy = a->energy && a->energy(s->dev, &mj) == 0;
    unsigned int mw;
    if (!s->use_energy && (!a->power || (r = a->power(s->dev, &mw)) != 0)) {
        snprintf(why, cap, "nvml: %s has neither an energy counter nor a power reading (%s)",
                 pick_name, a->power ? nvml_err(a, r) : "no nvmlDeviceGetPowerUsage");
        goto fail;
    }
    char detail[256];
    snprintf(detail, sizeof(detail), "GPU %d %s (%s; %s), whole board", pick, pick_name, how,
             s->use_energy ? "energy counter" : "sampled power integrated every 50 ms");
    return vd_meter_start(&nvml_ops, s, s->use_energy ? 0 : NVML_POWER_POLL_MS, detail, out, why,
                          cap);
fail:
    nvml_close(&tmp);
    return st;
}
