/* test_energy.c - the energy meters (src/energy) against fake sysfs trees built here
 * (VERDANT_SYSFS_ROOT) and a stub NVML library (tests/stub_nvml.c, VERDANT_NVML_LIB):
 * RAPL domains and counter wrap-around, missing files, unreadable counters (permission
 * denied when not root; as root, where chmod 000 blocks nothing, a directory where the
 * counter file should be), hwmon energy and integrated power, NVML's energy counter,
 * integrated power, device matching and failures, the "unavailable" answer with its reason
 * in vd_context_meter and in a training epoch's stats, and energy measured over an epoch.
 * The sysfs and NVML parts need no OpenCL device; the context parts skip without one. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fake_sysfs.h"
#include "energy/meter.h"

#ifndef STUB_NVML_PATH
#define STUB_NVML_PATH "libstub_nvml.so"
#endif

static char root[256];
#define mkdirs(rel) fake_mkdirs(root, rel)
#define put(rel, text) fake_put(root, rel, text)
#define put_u64(rel, v) fake_put_u64(root, rel, v)
#define rm_path(rel) fake_remove(root, rel)

static void fresh_root(void)
{
    rm_path("sys");
    mkdirs("sys/class/powercap");
    mkdirs("sys/class/hwmon");
}

static bool has(const char *text, const char *part)
{
    if (strstr(text, part)) return true;
    printf("  '%s' not in: %s\n", part, text);
    return false;
}

#define PKG "sys/class/powercap/intel-rapl:0"
#define DRAM "sys/class/powercap/intel-rapl:0:0"
#define CORE "sys/class/powercap/intel-rapl:0:1"
#define PSYS "sys/class/powercap/intel-rapl:1"
#define MAX_RANGE 262143328850ull

static void rapl_zone(const char *dir, const char *name, unsigned long long uj)
{
    char rel[200];
    mkdirs(dir);
    snprintf(rel, sizeof(rel), "%s/name", dir);
    put(rel, name);
    snprintf(rel, sizeof(rel), "%s/max_energy_range_uj", dir);
    put_u64(rel, MAX_RANGE);
    snprintf(rel, sizeof(rel), "%s/energy_uj", dir);
    put_u64(rel, uj);
}

static void test_rapl(void)
{
    char why[256];
    vd_meter *m = NULL;
    double j = -1;

    /* package + dram counted; core (inside the package) and psys (platform) not. */
    fresh_root();
    rapl_zone(PKG, "package-0\n", 1000000);
    rapl_zone(DRAM, "dram\n", 500000);
    rapl_zone(CORE, "core\n", 300000);
    rapl_zone(PSYS, "psys\n", 9000000);
    expect_true("rapl: opens", vd_meter_open_rapl(root, &m, why, sizeof(why)) == VD_OK && m);
    if (m) {
        expect_true("rapl: detail names the counted domains",
                    has(m->detail, "package-0 + dram-0"));
        put_u64(PKG "/energy_uj", 3000000);  /* +2 J */
        put_u64(DRAM "/energy_uj", 1500000); /* +1 J */
        put_u64(CORE "/energy_uj", 99300000); /* ignored */
        put_u64(PSYS "/energy_uj", 99000000); /* ignored */
        expect_true("rapl: read", vd_meter_read(m, &j) == VD_OK);
        expect_true("rapl: package + dram = 3 J", fabs(j - 3.0) < 1e-9);
        /* Wrap-around: the package counter passes max_energy_range_uj and restarts. */
        put_u64(PKG "/energy_uj", MAX_RANGE - 1000000);
        expect_true("rapl: read before wrap", vd_meter_read(m, &j) == VD_OK);
        double before = j;
        put_u64(PKG "/energy_uj", 500000);
        expect_true("rapl: read after wrap", vd_meter_read(m, &j) == VD_OK);
        expect_true("rapl: a wrap adds max - prev + cur (1.5 J)", fabs(j - before - 1.5) < 1e-9);
        /* A counter that fails while running: a directory where the file was. */
        rm_path(DRAM "/energy_uj");
        mkdirs(DRAM "/energy_uj");
        vd_status st = vd_meter_read(m, &j);
        expect_true("rapl: failing counter is an error", st != VD_OK);
        expect_true("rapl: the error names the file", has(m->error, "intel-rapl:0:0/energy_uj"));
        rm_path(DRAM "/energy_uj");
        put_u64(DRAM "/energy_uj", 1);
        expect_true("rapl: a failed meter stays failed", vd_meter_read(m, &j) == st);
        vd_meter_close(m);
        m = NULL;
    }

    /* Counter above its range: a broken sensor, not a wrap. */
    fresh_root();
    rapl_zone(PKG, "package-0\n", 1000);
    expect_true("rapl: opens (range)", vd_meter_open_rapl(root, &m, why, sizeof(why)) == VD_OK);
    if (m) {
        put_u64(PKG "/energy_uj", MAX_RANGE + 5);
        expect_true("rapl: counter above max is an error", vd_meter_read(m, &j) == VD_ERR_IO);
        expect_true("rapl: message says above max", has(m->error, "above max_energy_range_uj"));
        vd_meter_close(m);
        m = NULL;
    }

    /* Missing files. */
    fresh_root();
    rm_path("sys/class/powercap");
    expect_true("rapl: no powercap directory is unsupported",
                vd_meter_open_rapl(root, &m, why, sizeof(why)) == VD_ERR_UNSUPPORTED && !m);
    expect_true("rapl: reason names powercap", has(why, "powercap"));
    fresh_root();
    rapl_zone(PKG, "package-0\n", 1000);
    rm_path(PKG "/energy_uj");
    expect_true("rapl: missing energy_uj is unsupported",
                vd_meter_open_rapl(root, &m, why, sizeof(why)) == VD_ERR_UNSUPPORTED);
    expect_true("rapl: reason names energy_uj", has(why, "energy_uj"));
    fresh_root();
    rapl_zone(PKG, "package-0\n", 1000);
    rm_path(PKG "/max_energy_range_uj");
    expect_true("rapl: missing max_energy_range_uj is unsupported",
                vd_meter_open_rapl(root, &m, why, sizeof(why)) == VD_ERR_UNSUPPORTED);
    expect_true("rapl: reason names max_energy_range_uj", has(why, "max_energy_range_uj"));
    fresh_root();
    rapl_zone(CORE, "core\n", 1000);
    expect_true("rapl: no package zone is unsupported",
                vd_meter_open_rapl(root, &m, why, sizeof(why)) == VD_ERR_UNSUPPORTED);
    /* A dram zone that cannot be read leaves the package counted and says so. */
    fresh_root();
    rapl_zone(PKG, "package-0\n", 1000);
    rapl_zone(DRAM, "dram\n", 1000);
    put(DRAM "/energy_uj", "garbage\n");
    expect_true("rapl: partial opens", vd_meter_open_rapl(root, &m, why, sizeof(why)) == VD_OK);
    if (m) {
        expect_true("rapl: partial detail says what is not counted",
                    has(m->detail, "not counted") && has(m->detail, "not a number"));
        vd_meter_close(m);
        m = NULL;
    }

    /* Permissions. Root reads through chmod 000, so there a directory stands in for an
     * unreadable counter (the open succeeds, the read fails: the same failure path). */
    fresh_root();
    rapl_zone(PKG, "package-0\n", 1000);
    if (geteuid() != 0) {
        char path[600];
        snprintf(path, sizeof(path), "%s/%s/energy_uj", root, PKG);
        chmod(path, 0);
        expect_true("rapl: unreadable counter is unsupported",
                    vd_meter_open_rapl(root, &m, why, sizeof(why)) == VD_ERR_UNSUPPORTED);
        expect_true("rapl: reason says permission denied", has(why, "permission denied"));
    } else {
        rm_path(PKG "/energy_uj");
        mkdirs(PKG "/energy_uj");
        expect_true("rapl: unreadable counter (root: a directory) is unsupported",
                    vd_meter_open_rapl(root, &m, why, sizeof(why)) == VD_ERR_UNSUPPORTED);
        expect_true("rapl: reason says it is a directory", has(why, "is a directory"));
    }
    vd_meter_close(m);
    m = NULL;
}

static void test_hwmon(void)
{
    char why[256];
    vd_meter *m = NULL;
    double j = -1;
    fresh_root();
    mkdirs("sys/class/hwmon/hwmon0");
    put("sys/class/hwmon/hwmon0/name", "coretemp\n");
    expect_true("hwmon: no GPU sensor is unsupported",
                vd_meter_open_hwmon(root, NULL, &m, why, sizeof(why)) == VD_ERR_UNSUPPORTED);
    expect_true("hwmon: reason names the drivers", has(why, "amdgpu"));

    /* Energy counter. */
    mkdirs("sys/class/hwmon/hwmon1");
    put("sys/class/hwmon/hwmon1/name", "amdgpu\n");
    put_u64("sys/class/hwmon/hwmon1/energy1_input", 1000000);
    put_u64("sys/class/hwmon/hwmon1/power1_average", 1);
    expect_true("hwmon: energy opens",
                vd_meter_open_hwmon(root, "amdgpu", &m, why, sizeof(why)) == VD_OK && m);
    if (m) {
        expect_true("hwmon: uses the energy counter", has(m->detail, "energy1_input"));
        put_u64("sys/class/hwmon/hwmon1/energy1_input", 3500000);
        expect_true("hwmon: read", vd_meter_read(m, &j) == VD_OK && fabs(j - 2.5) < 1e-9);
        vd_meter_close(m);
        m = NULL;
    }
    /* Sampled power, integrated on the polling thread: 50 W for about 0.3 s. */
    rm_path("sys/class/hwmon/hwmon1/energy1_input");
    put_u64("sys/class/hwmon/hwmon1/power1_average", 50000000);
    double t0 = vd_meter_now();
    expect_true("hwmon: power opens",
                vd_meter_open_hwmon(root, "amdgpu", &m, why, sizeof(why)) == VD_OK && m);
    if (m) {
        expect_true("hwmon: says it integrates power", has(m->detail, "power1_average") &&
                                                           has(m->detail, "integrated"));
        usleep(300000);
        expect_true("hwmon: read power", vd_meter_read(m, &j) == VD_OK);
        double want = 50.0 * (vd_meter_now() - t0);
        printf("  hwmon: 50 W integrated over %.3f s: %.2f J\n", vd_meter_now() - t0, j);
        expect_true("hwmon: 50 W x elapsed time (within 10%)", fabs(j - want) < 0.1 * want);
        vd_meter_close(m);
        m = NULL;
    }
    /* Two sensors of the same driver: which one is the device? Refuse. */
    mkdirs("sys/class/hwmon/hwmon2");
    put("sys/class/hwmon/hwmon2/name", "amdgpu\n");
    put_u64("sys/class/hwmon/hwmon2/power1_average", 1);
    expect_true("hwmon: two amdgpu sensors are refused",
                vd_meter_open_hwmon(root, "amdgpu", &m, why, sizeof(why)) == VD_ERR_UNSUPPORTED);
    expect_true("hwmon: reason says several", has(why, "several"));
    rm_path("sys/class/hwmon/hwmon2");
    /* A directory where the sensor file should be. */
    rm_path("sys/class/hwmon/hwmon1/power1_average");
    mkdirs("sys/class/hwmon/hwmon1/power1_average");
    expect_true("hwmon: sensor that is a directory is an error",
                vd_meter_open_hwmon(root, "amdgpu", &m, why, sizeof(why)) != VD_OK && !m);
    expect_true("hwmon: reason names the file", has(why, "power1_average"));
}

static void test_nvml(void)
{
    char why[256];
    vd_meter *m = NULL;
    double j = -1;
    expect_true("nvml: missing library is unsupported",
                vd_meter_open_nvml("/nonexistent/libnvidia-ml.so.1", -1, -1, NULL, &m, why,
                                   sizeof(why)) == VD_ERR_UNSUPPORTED &&
                    !m);
    expect_true("nvml: reason says cannot load", has(why, "cannot load"));
    if (access(STUB_NVML_PATH, R_OK) != 0) {
        check_skip("nvml stub", "stub library not built");
        return;
    }
    setenv("STUB_NVML_MODE", "energy", 1);
    expect_true("nvml: stub opens by PCI location",
                vd_meter_open_nvml(STUB_NVML_PATH, 0x65, 0, "whatever", &m, why, sizeof(why)) ==
                        VD_OK &&
                    m);
    if (m) {
        expect_true("nvml: PCI picks device B", has(m->detail, "Stub GPU B") &&
                                                    has(m->detail, "PCI") &&
                                                    has(m->detail, "energy counter"));
        expect_true("nvml: read 1", vd_meter_read(m, &j) == VD_OK && fabs(j - 2.5) < 1e-9);
        expect_true("nvml: read 2", vd_meter_read(m, &j) == VD_OK && fabs(j - 5.0) < 1e-9);
        vd_meter_close(m);
        m = NULL;
    }
    expect_true("nvml: opens by name",
                vd_meter_open_nvml(STUB_NVML_PATH, -1, -1, "Stub GPU A", &m, why, sizeof(why)) ==
                    VD_OK);
    if (m) {
        expect_true("nvml: name picks device A", has(m->detail, "Stub GPU A"));
        vd_meter_close(m);
        m = NULL;
    }
    expect_true("nvml: no device at that PCI location",
                vd_meter_open_nvml(STUB_NVML_PATH, 0x99, 0, NULL, &m, why, sizeof(why)) ==
                    VD_ERR_UNSUPPORTED);
    expect_true("nvml: reason names the PCI bus", has(why, "PCI bus 153"));
    expect_true("nvml: two devices, no clue which",
                vd_meter_open_nvml(STUB_NVML_PATH, -1, -1, "Other GPU", &m, why, sizeof(why)) ==
                    VD_ERR_UNSUPPORTED);

    setenv("STUB_NVML_MODE", "power", 1);
    double t0 = vd_meter_now();
    expect_true("nvml: power-only stub opens",
                vd_meter_open_nvml(STUB_NVML_PATH, 0x17, 0, NULL, &m, why, sizeof(why)) == VD_OK);
    if (m) {
        expect_true("nvml: says it integrates power", has(m->detail, "integrated"));
        usleep(300000);
        expect_true("nvml: read power", vd_meter_read(m, &j) == VD_OK);
        double want = 200.0 * (vd_meter_now() - t0);
        printf("  nvml: 200 W integrated over %.3f s: %.2f J\n", vd_meter_now() - t0, j);
        expect_true("nvml: 200 W x elapsed time (within 10%)", fabs(j - want) < 0.1 * want);
        vd_meter_close(m);
        m = NULL;
    }
    setenv("STUB_NVML_MODE", "initfail", 1);
    expect_true("nvml: init failure is unsupported",
                vd_meter_open_nvml(STUB_NVML_PATH, -1, -1, NULL, &m, why, sizeof(why)) ==
                    VD_ERR_UNSUPPORTED);
    expect_true("nvml: reason carries NVML's text", has(why, "Driver Not Loaded"));
    setenv("STUB_NVML_MODE", "nodev", 1);
    expect_true("nvml: no device is unsupported",
                vd_meter_open_nvml(STUB_NVML_PATH, -1, -1, NULL, &m, why, sizeof(why)) ==
                    VD_ERR_UNSUPPORTED);
    unsetenv("STUB_NVML_MODE");
}

static void test_probe_and_api(void)
{
    fresh_root();
    rapl_zone(PKG, "package-0\n", 1000);
    setenv("VERDANT_SYSFS_ROOT", root, 1);
    setenv("VERDANT_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
    vd_meter_info info[4];
    size_t n = 0;
    expect_true("probe: runs", vd_meters_probe(info, 4, &n) == VD_OK && n == 3);
    expect_true("probe: rapl found", info[0].available && !strcmp(info[0].name, "rapl"));
    expect_true("probe: nvml unavailable with reason",
                !info[1].available && has(info[1].detail, "cannot load"));
    expect_true("probe: hwmon unavailable", !info[2].available);
    expect_true("probe: NULL count", vd_meters_probe(info, 4, NULL) == VD_ERR_INVALID_ARG);
    expect_true("api: vd_context_meter(NULL)", vd_context_meter(NULL, info) == VD_ERR_INVALID_ARG);
}

/* Progress callback: the fake package counter advances 4 J per report. */
static int reports;
static void advance(void *user, const vd_progress *p)
{
    (void)user;
    (void)p;
    reports++;
    put_u64(PKG "/energy_uj", 1000 + (unsigned long long)reports * 4000000ull);
}

static void test_with_context(void)
{
    vd_context *ctx = NULL;
    /* No meter: an empty sysfs tree on a CPU device. */
    fresh_root();
    rm_path("sys/class/powercap");
    setenv("VERDANT_SYSFS_ROOT", root, 1);
    unsetenv("VERDANT_METER");
    if (test_context(&ctx) != 0) return;
    vd_device_info d;
    vd_context_device(ctx, &d);
    if (d.type != VD_DEVICE_CPU) setenv("VERDANT_METER", "rapl", 1); /* the fake tree only */
    vd_context_destroy(ctx);
    ctx = NULL;
    EXPECT_OK(NULL, vd_context_create(NULL, &ctx));
    if (!ctx) return;
    vd_meter_info info;
    EXPECT_OK(ctx, vd_context_meter(ctx, &info));
    expect_true("unavailable: no meter", !info.available);
    expect_true("unavailable: the reason is given", has(info.detail, "powercap"));
    expect_true("unavailable: not an error", vd_last_error(ctx)[0] == '\0');

    vd_dataset *all = NULL, *ds = NULL;
    vd_net *net = NULL;
    if (vd_dataset_load_mnist(NULL, "test", &all) != VD_OK) {
        check_skip("epoch energy", "no Fashion-MNIST (dataset-fashion-mnist)");
        goto done;
    }
    EXPECT_OK(NULL, vd_dataset_subset(all, 0, 256, &ds));
    EXPECT_OK(ctx, vd_net_create(ctx, &net));
    EXPECT_OK(ctx, vd_net_input(net, 3, (int64_t[]){1, 28, 28}));
    EXPECT_OK(ctx, vd_net_add(net, "flatten", NULL, NULL));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc", "units=10"));
    EXPECT_OK(ctx, vd_net_build(net, 64));
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_SGD);
    EXPECT_OK(ctx, vd_net_set_optimizer(net, &o));
    vd_epoch_stats es;
    memset(&es, 0x55, sizeof(es));
    EXPECT_OK(ctx, vd_net_train_epoch(net, ds, 1, NULL, &es));
    expect_true("epoch without meter: has_energy 0", es.has_energy == 0);
    expect_true("epoch without meter: numbers 0",
                es.joules == 0 && es.watts == 0 && es.images_per_joule == 0);
    expect_true("epoch without meter: meter ''", es.meter[0] == '\0');
    expect_true("epoch without meter: the reason", has(es.energy_note, "powercap"));
    vd_net_destroy(net);
    net = NULL;
    vd_context_destroy(ctx);
    ctx = NULL;

    /* A fake RAPL package that the progress callback advances: the epoch's joules are
     * exactly what the counter moved. */
    fresh_root();
    rapl_zone(PKG, "package-0\n", 1000);
    EXPECT_OK(NULL, vd_context_create(NULL, &ctx));
    if (!ctx) goto done;
    EXPECT_OK(ctx, vd_net_create(ctx, &net));
    EXPECT_OK(ctx, vd_net_input(net, 3, (int64_t[]){1, 28, 28}));
    EXPECT_OK(ctx, vd_net_add(net, "flatten", NULL, NULL));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc", "units=10"));
    EXPECT_OK(ctx, vd_net_build(net, 64));
    EXPECT_OK(ctx, vd_net_set_optimizer(net, &o));
    vd_train_options to;
    vd_train_options_init(&to);
    to.progress = advance;
    to.progress_every = 1;
    reports = 0;
    EXPECT_OK(ctx, vd_net_train_epoch(net, ds, 1, &to, &es));
    expect_true("epoch with meter: has_energy", es.has_energy == 1);
    expect_true("epoch with meter: 4 J per batch", fabs(es.joules - 4.0 * reports) < 1e-6);
    expect_true("epoch with meter: watts = J / s",
                fabs(es.watts - es.joules / es.seconds) < 1e-6 * es.watts);
    expect_true("epoch with meter: images per joule",
                fabs(es.images_per_joule - 256.0 / es.joules) < 1e-9);
    expect_true("epoch with meter: meter name", !strcmp(es.meter, "rapl"));
    expect_true("epoch with meter: what is counted", has(es.energy_note, "package-0"));

    setenv("VERDANT_METER", "off", 1);
    vd_meter *m = NULL;
    expect_true("VERDANT_METER=off", vd_meter_open(ctx, &m) == VD_ERR_UNSUPPORTED && !m);
    setenv("VERDANT_METER", "bogus", 1);
    expect_true("VERDANT_METER=bogus", vd_meter_open(ctx, &m) == VD_ERR_INVALID_ARG);
    expect_true("VERDANT_METER=bogus message", has(vd_last_error(ctx), "bogus"));
    unsetenv("VERDANT_METER");
done:
    vd_net_destroy(net);
    vd_dataset_destroy(ds);
    vd_dataset_destroy(all);
    vd_context_destroy(ctx);
}

int main(void)
{
    snprintf(root, sizeof(root), "%s/verdant-energy-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    test_rapl();
    test_hwmon();
    test_nvml();
    test_probe_and_api();
    test_with_context();
    rm_path("");
    return check_summary();
}
