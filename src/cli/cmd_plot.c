/* cmd_plot.c - `verdant plot LOG.jsonl -o curves.png|.svg`: the training curves of a
 * `verdant train --log` file drawn with PLplot's C API (Debian libplplot-dev; PNG through
 * the pngcairo driver of plplot-driver-cairo, SVG through PLplot's own svg driver).
 * Four panels: loss (train, test), accuracy (train, test), images/s, images/J (or why there
 * is no energy figure). Built without PLplot (VD_HAVE_PLPLOT undefined) the command says so
 * and fails. Reading the log is a small scanner for the flat records cmd_train.c writes,
 * not a general JSON parser. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifdef VD_HAVE_PLPLOT
#include <plplot.h>

typedef struct series {
    double *epoch, *loss, *test_loss, *acc, *test_acc, *ips, *ipj;
    size_t n, cap;
    int runs;
    char device[128], note[256];
} series;

/* The number after "key": in line, NAN for null, a missing key or a non-number. */
static double field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p) return NAN;
    p += strlen(pat);
    while (*p == ' ') p++;
    char *end = NULL;
    double v = strtod(p, &end);
    return end == p ? NAN : v;
}

/* The string after "key": (unescaped only as far as a title needs), "" when absent. */
static void field_str(const char *line, const char *key, char *dst, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\": \"", key);
    dst[0] = '\0';
    const char *p = strstr(line, pat);
    if (!p) return;
    p += strlen(pat);
    size_t n = 0;
    for (; *p && *p != '"' && n + 1 < cap; p++) {
        if (*p == '\\' && p[1]) p++;
        dst[n++] = *p;
    }
    dst[n] = '\0';
}

static int push(series *s, const char *line)
{
    double e = field(line, "epoch");
    if (!isfinite(e)) return 0; /* not a record */
    if (s->n > 0 && e <= s->epoch[s->n - 1]) { /* a new run starts: keep the last one */
        s->n = 0;
        s->runs++;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        double **cols[7] = {&s->epoch, &s->loss, &s->test_loss, &s->acc,
                            &s->test_acc, &s->ips, &s->ipj};
        for (int c = 0; c < 7; c++) {
            double *p = realloc(*cols[c], cap * sizeof(double));
            if (!p) return -1;
            *cols[c] = p;
        }
        s->cap = cap;
    }
    size_t i = s->n++;
    s->epoch[i] = e;
    s->loss[i] = field(line, "loss");
    s->test_loss[i] = field(line, "test_loss");
    s->acc[i] = 100.0 * field(line, "train_acc");
    s->test_acc[i] = 100.0 * field(line, "test_acc");
    s->ips[i] = field(line, "images_per_s");
    s->ipj[i] = field(line, "images_per_joule");
    field_str(line, "device", s->device, sizeof(s->device));
    field_str(line, "energy_note", s->note, sizeof(s->note));
    return 0;
}

static void series_free(series *s)
{
    free(s->epoch);
    free(s->loss);
    free(s->test_loss);
    free(s->acc);
    free(s->test_acc);
    free(s->ips);
    free(s->ipj);
}

static bool any_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) return true;
    return false;
}

/* The marker of every data point and legend entry (a filled circle, UTF-8). */
#define MARK "\xe2\x97\x8f"

/* Colours of cmap0: background, ink, then the series. */
enum { C_BG = 0, C_INK = 1, C_TRAIN = 2, C_TEST = 3, C_SPEED = 4, C_ENERGY = 5, C_GRID = 6 };

/* One panel: up to two series against epoch, with a legend when there are two. NAN
 * values are skipped (gaps). */
static void panel(const series *s, const double vp[4], const char *ylabel, const char *title,
                  const double *a, const char *a_name, int a_col, const double *b,
                  const char *b_name, int b_col, bool from_zero, bool legend_top)
{
    double x0 = s->epoch[0], x1 = s->epoch[s->n - 1];
    if (x1 - x0 < 1) {
        x0 -= 0.5;
        x1 += 0.5;
    } else {
        x0 -= 0.02 * (x1 - x0);
        x1 += 0.02 * (x1 - x0);
    }
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < s->n; i++) {
        if (isfinite(a[i])) lo = fmin(lo, a[i]), hi = fmax(hi, a[i]);
        if (b && isfinite(b[i])) lo = fmin(lo, b[i]), hi = fmax(hi, b[i]);
    }
    if (from_zero) lo = 0;
    double pad = hi > lo ? 0.08 * (hi - lo) : (hi != 0 ? 0.1 * fabs(hi) : 1);
    plvpor(vp[0], vp[1], vp[2], vp[3]);
    plwind(x0, x1, from_zero ? 0 : lo - pad, hi + pad);
    plcol0(C_GRID);
    plwidth(0.5);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(C_INK);
    plwidth(1.0);
    /* whole epochs on the x axis */
    double xtick = x1 - x0 <= 12 ? 1 : ceil((x1 - x0) / 10);
    plbox("bcnst", xtick, xtick > 1 ? 0 : 1, "bcnstv", 0, 0);
    pllab("epoch", ylabel, title);
    const double *ys[2] = {a, b};
    const int cols[2] = {a_col, b_col};
    double *xs = malloc(s->n * sizeof(double)), *yv = malloc(s->n * sizeof(double));
    for (int k = 0; k < 2 && xs && yv; k++) {
        if (!ys[k]) continue;
        int m = 0;
        for (size_t i = 0; i < s->n; i++)
            if (isfinite(ys[k][i])) {
                xs[m] = s->epoch[i];
                yv[m++] = ys[k][i];
            }
        plcol0(cols[k]);
        plwidth(2.0);
        if (m > 1) plline(m, xs, yv);
        plstring(m, xs, yv, MARK);
    }
    free(xs);
    free(yv);
    plwidth(1.0);
    if (b && a_name && b_name) {
        PLINT opt[2] = {PL_LEGEND_LINE | PL_LEGEND_SYMBOL, PL_LEGEND_LINE | PL_LEGEND_SYMBOL};
        PLINT text_col[2] = {C_INK, C_INK}, line_col[2] = {a_col, b_col}, style[2] = {1, 1};
        PLINT sym_col[2] = {a_col, b_col}, sym_n[2] = {1, 1};
        PLFLT widths[2] = {2.0, 2.0}, sym_scale[2] = {0.7, 0.7};
        const char *text[2] = {a_name, b_name}, *sym[2] = {MARK, MARK};
        PLFLT w, h;
        pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
                 PL_POSITION_INSIDE | PL_POSITION_RIGHT |
                     (legend_top ? PL_POSITION_TOP : PL_POSITION_BOTTOM),
                 0.03, 0.04, 0.08, C_BG,
                 C_INK, 1, 0, 0, 2, opt, 0.8, 0.7, 1.8, 0.0, text_col, text, NULL, NULL, NULL, NULL,
                 line_col, style, widths, sym_col, sym_scale, sym_n, sym);
    }
}

static bool has_device(const char *name)
{
    const char **menu = NULL, **devs = NULL;
    int n = 64;
    menu = calloc((size_t)n, sizeof(*menu));
    devs = calloc((size_t)n, sizeof(*devs));
    bool found = false;
    if (menu && devs) {
        plgDevs(&menu, &devs, &n);
        for (int i = 0; i < n && !found; i++) found = devs[i] && !strcmp(devs[i], name);
    }
    free(menu);
    free(devs);
    return found;
}

int cmd_plot(int argc, char **argv)
{
    const char *out = NULL, *title = NULL;
    const flag flags[] = {{"-o", FLAG_STR, &out, 0, 0},
                          {"--output", FLAG_STR, &out, 0, 0},
                          {"--title", FLAG_STR, &title, 0, 0},
                          {NULL, 0, NULL, 0, 0}};
    const char *pos[1];
    int npos, help;
    int rc = cli_parse("plot", argc, argv, flags, pos, 1, &npos, &help);
    if (rc || help) return help ? (fputs(USAGE_PLOT, stdout), EXIT_OK) : rc;
    if (npos == 0 || !out) {
        fprintf(stderr, "verdant plot: missing %s (see 'verdant plot --help')\n",
                npos == 0 ? "LOG.jsonl" : "-o OUT.png");
        return EXIT_USAGE;
    }
    size_t ol = strlen(out);
    const char *dev = ol > 4 && !strcmp(out + ol - 4, ".png")   ? "pngcairo"
                      : ol > 4 && !strcmp(out + ol - 4, ".svg") ? "svg"
                                                                : NULL;
    if (!dev) {
        fprintf(stderr, "verdant plot: '%s' does not end in .png or .svg\n", out);
        return EXIT_USAGE;
    }
    FILE *f = fopen(pos[0], "r");
    if (!f) {
        fprintf(stderr, "verdant plot: cannot open log '%s'\n", pos[0]);
        return EXIT_FAIL;
    }
    series s = {0};
    char *line = NULL;
    size_t cap = 0;
    rc = EXIT_FAIL;
    while (getline(&line, &cap, f) > 0)
        if (push(&s, line) != 0) {
            fprintf(stderr, "verdant plot: out of memory\n");
            goto done;
        }
    if (s.n == 0) {
        fprintf(stderr, "verdant plot: '%s' holds no epoch records (write one with verdant train "
                        "--log)\n", pos[0]);
        goto done;
    }
    if (!has_device(dev)) {
        fprintf(stderr, "verdant plot: PLplot has no '%s' output driver here%s\n", dev,
                !strcmp(dev, "pngcairo") ? " (install plplot-driver-cairo, or write .svg)" : "");
        goto done;
    }
    if (s.runs > 0)
        printf("%s holds %d runs; drawing the last (%zu epochs)\n", pos[0], s.runs + 1, s.n);
    const char *base = strrchr(pos[0], '/');
    char head[100], sub[160];
    snprintf(head, sizeof(head), "%.96s", title ? title : base ? base + 1 : pos[0]);
    snprintf(sub, sizeof(sub), "%s%.140s", s.device[0] ? "device: " : "", s.device);

    /* white background, dark ink, colour-blind-safe series colours (Okabe-Ito) */
    PLINT r[7] = {255, 30, 0, 230, 0, 204, 225}, g[7] = {255, 30, 114, 159, 158, 121, 225},
          b[7] = {255, 30, 178, 0, 115, 167, 225};
    plsdev(dev);
    plsfnam(out);
    plspage(0, 0, 1400, 1000, 0, 0);
    plscmap0(r, g, b, 7);
    plinit();
    plfontld(1);
    pladv(0);
    plschr(0, 0.7);
    /* Four viewports on one page (normalised x0, x1, y0, y1), title band on top. */
    static const double vp[4][4] = {{0.09, 0.47, 0.57, 0.88},
                                    {0.59, 0.97, 0.57, 0.88},
                                    {0.09, 0.47, 0.08, 0.39},
                                    {0.59, 0.97, 0.08, 0.39}};
    panel(&s, vp[0], "loss", "loss", s.loss, "train", C_TRAIN, s.test_loss, "test", C_TEST, false,
          true);
    panel(&s, vp[1], "accuracy (%)", "accuracy", s.acc, "train", C_TRAIN, s.test_acc, "test",
          C_TEST, false, false);
    panel(&s, vp[2], "images / s", "training speed", s.ips, NULL, C_SPEED, NULL, NULL, 0, true,
          true);
    if (any_finite(s.ipj, s.n)) {
        panel(&s, vp[3], "images / J", "energy efficiency", s.ipj, NULL, C_ENERGY, NULL, NULL, 0,
              true, true);
    } else {
        plvpor(vp[3][0], vp[3][1], vp[3][2], vp[3][3]);
        plwind(0, 1, 0, 1);
        plcol0(C_INK);
        plbox("bc", 0, 0, "bc", 0, 0);
        pllab("", "", "energy efficiency (images / J)");
        plptex(0.5, 0.65, 1, 0, 0.5, "no energy measurement in this log");
        /* The logged reason, wrapped at spaces into lines of at most 60 characters. */
        plschr(0, 0.55);
        const char *p = s.note;
        for (double y = 0.52; *p && y > 0.1; y -= 0.08) {
            size_t len = strlen(p), cut = len;
            if (len > 60) {
                cut = 60;
                while (cut > 20 && p[cut] != ' ') cut--;
            }
            char text[64];
            snprintf(text, sizeof(text), "%.*s", (int)cut, p);
            plptex(0.5, y, 1, 0, 0.5, text);
            p += cut;
            while (*p == ' ') p++;
        }
        plschr(0, 0.7);
    }
    /* The overall title over the four panels. */
    plvpor(0, 1, 0, 1);
    plwind(0, 1, 0, 1);
    plcol0(C_INK);
    plschr(0, 0.85);
    plmtex("t", -1.5, 0.5, 0.5, head);
    plschr(0, 0.6);
    if (sub[0]) plmtex("t", -4.2, 0.5, 0.5, sub);
    plend();
    printf("wrote %s (%zu epochs)\n", out, s.n);
    rc = EXIT_OK;
done:
    free(line);
    fclose(f);
    series_free(&s);
    return rc;
}

#else /* built without PLplot */

int cmd_plot(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(USAGE_PLOT, stdout);
            return EXIT_OK;
        }
    fprintf(stderr, "verdant plot: this verdant was built without PLplot; install libplplot-dev "
                    "and plplot-driver-cairo, then rebuild\n");
    return EXIT_FAIL;
}

#endif
