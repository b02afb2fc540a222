/* test_energy_span.c - the public energy spans (vd_energy_span_begin / vd_energy_span_end,
 * src/energy/meter.c) on a context's device: misuse (NULL arguments, ending a span that was
 * not begun or already ended, or on another context) returns its status with a message;
 * no meter (VERDANT_METER=off, and a fake sysfs tree without powercap) gives has_energy 0
 * and the reason; a fake RAPL package counter moved between the two ends gives exactly
 * those joules, watts = joules / seconds, the meter's name and what it counts; a counter
 * that does not move gives no figure and says why, not 0 J; the stub NVML library
 * (tests/stub_nvml.c) gives its 2.5 J per read, and 200 W integrated; both ends finish the
 * queue (a marker enqueued before each is complete after it); a failing clFinish (fault
 * injection) is VD_ERR_OPENCL. The NULL-argument checks need no device; the rest skip
 * without one. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fake_sysfs.h"
#include "ops/ops.h"

#ifndef STUB_NVML_PATH
#define STUB_NVML_PATH "libstub_nvml.so"
#endif

#define PKG "sys/class/powercap/intel-rapl:0"

static char root[256];
#define mkdirs(rel) fake_mkdirs(root, rel)
#define put(rel, text) fake_put(root, rel, text)

static bool has(const char *text, const char *part)
{
    if (strstr(text, part)) return true;
    printf("  '%s' not in: %s\n", part, text);
    return false;
}

static void put_uj(unsigned long long uj)
{
    fake_put_u64(root, PKG "/energy_uj", uj);
}

static void rm_tree(void)
{
    fake_remove(root, "sys");
}

/* A fake RAPL tree with one package zone at uj microjoules (package = false: no powercap
 * directory at all). */
static void fake_rapl(bool package, unsigned long long uj)
{
    rm_tree();
    mkdirs("sys/class");
    if (!package) return;
    mkdirs(PKG);
    put(PKG "/name", "package-0\n");
    put(PKG "/max_energy_range_uj", "262143328850\n");
    put_uj(uj);
}

/* A context whose meter is chosen under the environment set now (the meter is opened on
 * first use and kept with the context). */
static vd_context *fresh_context(void)
{
    vd_context *ctx = NULL;
    EXPECT_OK(NULL, vd_context_create(NULL, &ctx));
    return ctx;
}

/* Device work for a span to cover: a few fills of a 1 M-float buffer. */
static void some_work(vd_context *ctx, cl_mem m)
{
    for (int i = 0; i < 4; i++) vd_op_fill(ctx, 1 << 20, (float)i, m, 0);
}

/* Enqueue a marker behind the work in ctx's queue; after a call that finishes the queue it
 * must be complete. */
static cl_event marker(vd_context *ctx)
{
    cl_event ev = NULL;
    if (clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &ev) != CL_SUCCESS) return NULL;
    clFlush(ctx->queue);
    return ev;
}

static bool complete(cl_event ev)
{
    cl_int s = -1;
    if (!ev) return false;
    clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof(s), &s, NULL);
    clReleaseEvent(ev);
    return s == CL_COMPLETE;
}

static void test_null_args(void)
{
    vd_energy_span s;
    expect_true("begin(NULL ctx)", vd_energy_span_begin(NULL, &s) == VD_ERR_INVALID_ARG);
    expect_true("begin(NULL ctx): message", has(vd_last_error(NULL), "vd_energy_span_begin"));
    expect_true("end(NULL ctx)", vd_energy_span_end(NULL, &s) == VD_ERR_INVALID_ARG);
    expect_true("end(NULL ctx): message", has(vd_last_error(NULL), "vd_energy_span_end"));
}

static void test_misuse(vd_context *ctx)
{
    vd_energy_span s, z;
    memset(&z, 0, sizeof(z));
    expect_status("begin(ctx, NULL)", ctx, vd_energy_span_begin(ctx, NULL), VD_ERR_INVALID_ARG);
    expect_true("begin(ctx, NULL): message", has(vd_last_error(ctx), "NULL span"));
    expect_status("end(ctx, NULL)", ctx, vd_energy_span_end(ctx, NULL), VD_ERR_INVALID_ARG);
    expect_status("end of a span never begun", ctx, vd_energy_span_end(ctx, &z), VD_ERR_STATE);
    expect_true("never begun: message", has(vd_last_error(ctx), "not begun"));
    EXPECT_OK(ctx, vd_energy_span_begin(ctx, &s));
    EXPECT_OK(ctx, vd_energy_span_end(ctx, &s));
    expect_status("end twice", ctx, vd_energy_span_end(ctx, &s), VD_ERR_STATE);
    expect_true("end twice: message", has(vd_last_error(ctx), "already ended"));

    vd_context *other = fresh_context();
    if (other) {
        EXPECT_OK(ctx, vd_energy_span_begin(ctx, &s));
        expect_status("end on another context", other, vd_energy_span_end(other, &s),
                      VD_ERR_INVALID_ARG);
        expect_true("another context: message", has(vd_last_error(other), "another context"));
        EXPECT_OK(ctx, vd_energy_span_end(ctx, &s)); /* still open: ends on its own */
        vd_context_destroy(other);
    }

    /* A failing clFinish at either end is the device's error, with the call in the message;
     * a span whose end failed stays open and ends once the queue finishes. */
    vd_fault_arm(ctx, 1, 0, "clFinish");
    expect_status("begin: clFinish fails", ctx, vd_energy_span_begin(ctx, &s), VD_ERR_OPENCL);
    expect_true("begin: clFinish in the message", has(vd_last_error(ctx), "clFinish"));
    EXPECT_OK(ctx, vd_energy_span_begin(ctx, &s));
    vd_fault_arm(ctx, 1, 0, "clFinish");
    expect_status("end: clFinish fails", ctx, vd_energy_span_end(ctx, &s), VD_ERR_OPENCL);
    EXPECT_OK(ctx, vd_energy_span_end(ctx, &s));
    vd_fault_arm(ctx, 0, 0, NULL);
}

static void test_no_meter(void)
{
    /* VERDANT_METER=off. */
    setenv("VERDANT_METER", "off", 1);
    vd_context *ctx = fresh_context();
    if (!ctx) return;
    vd_energy_span s;
    memset(&s, 0x55, sizeof(s));
    EXPECT_OK(ctx, vd_energy_span_begin(ctx, &s));
    EXPECT_OK(ctx, vd_energy_span_end(ctx, &s));
    expect_true("off: has_energy 0", s.has_energy == 0);
    expect_true("off: numbers 0", s.joules == 0 && s.watts == 0);
    expect_true("off: meter ''", s.meter[0] == '\0');
    expect_true("off: the reason", has(s.note, "VERDANT_METER=off"));
    expect_true("off: seconds measured", s.seconds >= 0 && s.seconds < 60);
    expect_true("off: no error left", vd_last_error(ctx)[0] == '\0');
    vd_context_destroy(ctx);

    /* RAPL forced on a tree without powercap. */
    fake_rapl(false, 0);
    setenv("VERDANT_METER", "rapl", 1);
    ctx = fresh_context();
    if (!ctx) return;
    EXPECT_OK(ctx, vd_energy_span_begin(ctx, &s));
    EXPECT_OK(ctx, vd_energy_span_end(ctx, &s));
    expect_true("no powercap: has_energy 0", s.has_energy == 0 && s.meter[0] == '\0');
    expect_true("no powercap: the reason", has(s.note, "powercap"));
    vd_context_destroy(ctx);
}

static void test_rapl(void)
{
    fake_rapl(true, 1000);
    setenv("VERDANT_METER", "rapl", 1);
    vd_context *ctx = fresh_context();
    cl_mem m = NULL;
    if (!ctx) return;
    if (vd_buffer_alloc(ctx, (size_t)4 << 20, &m) != VD_OK) {
        expect_true("buffer", false);
        goto done;
    }
    vd_energy_span s;
    some_work(ctx, m);
    cl_event ev = marker(ctx);
    EXPECT_OK(ctx, vd_energy_span_begin(ctx, &s));
    expect_true("begin finished the queue", complete(ev));
    some_work(ctx, m);
    put_uj(1000 + 3000000); /* +3 J while the work runs */
    some_work(ctx, m);
    ev = marker(ctx);
    EXPECT_OK(ctx, vd_energy_span_end(ctx, &s));
    expect_true("end finished the queue", complete(ev));
    expect_true("rapl: has_energy", s.has_energy == 1);
    expect_true("rapl: exactly the 3 J the counter moved", fabs(s.joules - 3.0) < 1e-9);
    expect_true("rapl: seconds > 0", s.seconds > 0);
    expect_true("rapl: watts = joules / seconds",
                fabs(s.watts - s.joules / s.seconds) < 1e-9 * s.watts);
    expect_true("rapl: meter name", !strcmp(s.meter, "rapl"));
    expect_true("rapl: what is counted", has(s.note, "package-0"));
    printf("  rapl span: %.3f J in %.4f s = %.1f W (%s: %s)\n", s.joules, s.seconds, s.watts,
           s.meter, s.note);

    /* Nested spans: the outer one covers the inner one's energy and more. */
    vd_energy_span outer, inner;
    EXPECT_OK(ctx, vd_energy_span_begin(ctx, &outer));
    put_uj(1000 + 4000000);
    EXPECT_OK(ctx, vd_energy_span_begin(ctx, &inner));
    put_uj(1000 + 6000000);
    EXPECT_OK(ctx, vd_energy_span_end(ctx, &inner));
    EXPECT_OK(ctx, vd_energy_span_end(ctx, &outer));
    expect_true("nested: inner 2 J, outer 3 J",
                fabs(inner.joules - 2.0) < 1e-9 && fabs(outer.joules - 3.0) < 1e-9);

    /* A counter that does not move: no figure (the energy is unknown, not zero). */
    EXPECT_OK(ctx, vd_energy_span_begin(ctx, &s));
    some_work(ctx, m);
    EXPECT_OK(ctx, vd_energy_span_end(ctx, &s));
    expect_true("still counter: has_energy 0", s.has_energy == 0);
    expect_true("still counter: numbers 0", s.joules == 0 && s.watts == 0);
    expect_true("still counter: names the meter", !strcmp(s.meter, "rapl"));
    expect_true("still counter: says so", has(s.note, "did not move"));

    /* A counter that fails while a span is open: no figure, and why. */
    EXPECT_OK(ctx, vd_energy_span_begin(ctx, &s));
    char path[600];
    snprintf(path, sizeof(path), "%s/%s/energy_uj", root, PKG);
    remove(path);
    mkdirs(PKG "/energy_uj");
    EXPECT_OK(ctx, vd_energy_span_end(ctx, &s));
    expect_true("failed meter: has_energy 0", s.has_energy == 0);
    expect_true("failed meter: says it failed", has(s.note, "rapl meter failed"));
done:
    if (m) vd_buffer_release(ctx, m, (size_t)4 << 20);
    vd_context_destroy(ctx);
}

static void test_nvml(void)
{
    if (access(STUB_NVML_PATH, R_OK) != 0) {
        check_skip("nvml stub spans", "stub library not built");
        return;
    }
    setenv("VERDANT_METER", "nvml", 1);
    setenv("VERDANT_NVML_LIB", STUB_NVML_PATH, 1);
    setenv("STUB_NVML_MODE", "energy", 1); /* the counter moves 2.5 J per read */
    vd_context *ctx = fresh_context();
    if (!ctx) return;
    vd_energy_span s;
    EXPECT_OK(ctx, vd_energy_span_begin(ctx, &s));
    EXPECT_OK(ctx, vd_energy_span_end(ctx, &s));
    expect_true("nvml energy: 2.5 J between two reads",
                s.has_energy == 1 && fabs(s.joules - 2.5) < 1e-9);
    expect_true("nvml energy: meter and note",
                !strcmp(s.meter, "nvml") && has(s.note, "energy counter"));
    vd_context_destroy(ctx);

    setenv("STUB_NVML_MODE", "power", 1); /* 200 W, integrated every 50 ms */
    ctx = fresh_context();
    if (!ctx) return;
    EXPECT_OK(ctx, vd_energy_span_begin(ctx, &s));
    usleep(300000);
    EXPECT_OK(ctx, vd_energy_span_end(ctx, &s));
    printf("  nvml power span: %.3f J in %.4f s = %.2f W\n", s.joules, s.seconds, s.watts);
    expect_true("nvml power: 200 W (within 2%)", s.has_energy == 1 && fabs(s.watts - 200.0) < 4.0);
    vd_context_destroy(ctx);
    unsetenv("STUB_NVML_MODE");
    unsetenv("VERDANT_NVML_LIB");
}

int main(void)
{
    test_null_args();
    snprintf(root, sizeof(root), "%s/verdant-span-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    setenv("VERDANT_SYSFS_ROOT", root, 1);
    vd_context *ctx = NULL;
    if (test_context(&ctx) == 0) {
        setenv("VERDANT_METER", "off", 1);
        test_misuse(ctx);
        vd_context_destroy(ctx);
        test_no_meter();
        test_rapl();
        test_nvml();
    }
    unsetenv("VERDANT_METER");
    rm_tree();
    rmdir(root);
    return check_summary();
}
