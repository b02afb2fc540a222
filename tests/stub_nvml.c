/* stub_nvml.c - a stand-in for libnvidia-ml.so.1 with the few entry points Verdant's NVML
 * meter (src/energy/nvml.c) calls, so that test_energy can exercise that code on machines
 * without an NVIDIA driver. Loaded through VERDANT_NVML_LIB. Two devices:
 *   0 "Stub GPU A" at PCI bus 0x17 device 0, 1 "Stub GPU B" at bus 0x65 device 0.
 * STUB_NVML_MODE (read by nvmlInit) picks the behaviour:
 *   energy    (default) the total energy counter advances 2500 mJ per read;
 *   power     no energy counter (NOT_SUPPORTED); board power is 200 W;
 *   initfail  nvmlInit returns 9 (driver not loaded);
 *   nodev     no device.
 * Not a model of NVML beyond that. */
#include <stdlib.h>
#include <string.h>

#define API __attribute__((visibility("default")))

typedef int nvmlReturn_t;
typedef struct nvmlPciInfo_st {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

static int mode; /* 0 energy, 1 power, 2 initfail, 3 nodev */
static unsigned long long counter_mj[2] = {1000000ull, 7000000ull};
static int dev_tag[2];

API nvmlReturn_t nvmlInit_v2(void)
{
    const char *m = getenv("STUB_NVML_MODE");
    mode = !m || !strcmp(m, "energy") ? 0 : !strcmp(m, "power") ? 1 : !strcmp(m, "initfail") ? 2 : 3;
    return mode == 2 ? 9 : 0;
}

API nvmlReturn_t nvmlShutdown(void)
{
    return 0;
}

API const char *nvmlErrorString(nvmlReturn_t r)
{
    return r == 9 ? "Driver Not Loaded" : r == 3 ? "Not Supported" : "Stub Error";
}

API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n)
{
    *n = mode == 3 ? 0 : 2;
    return 0;
}

API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **dev)
{
    if (i > 1) return 2; /* invalid argument */
    *dev = &dev_tag[i];
    return 0;
}

static int index_of(void *dev)
{
    return dev == &dev_tag[1] ? 1 : 0;
}

API nvmlReturn_t nvmlDeviceGetName(void *dev, char *name, unsigned int len)
{
    strncpy(name, index_of(dev) ? "Stub GPU B" : "Stub GPU A", len);
    return 0;
}

API nvmlReturn_t nvmlDeviceGetPciInfo_v3(void *dev, nvmlPciInfo_t *pci)
{
    memset(pci, 0, sizeof(*pci));
    pci->bus = index_of(dev) ? 0x65 : 0x17;
    pci->device = 0;
    return 0;
}

API nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(void *dev, unsigned long long *mj)
{
    if (mode == 1) return 3;
    int i = index_of(dev);
    counter_mj[i] += 2500;
    *mj = counter_mj[i];
    return 0;
}

API nvmlReturn_t nvmlDeviceGetPowerUsage(void *dev, unsigned int *mw)
{
    (void)dev;
    *mw = 200000;
    return 0;
}
