/* cli_mpi.c - the `verdant` command's side of data-parallel training (docs/DISTRIBUTED.md):
 * starting MPI when the process was launched by mpirun (or asked with --mpi), the local
 * rank for device selection, the collective agreement on the set-up's outcome and on the
 * training plan, and the sums behind the epoch lines. The library's part (the gradient
 * all-reduce, the epoch sharding, the model check) is vd_net_set_distributed. Without MPI
 * these functions exist, cli_mpi_init says Verdant was built without it, and the rest act
 * as one rank. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifdef VD_HAVE_MPI
#include <mpi.h>
#endif

/* Launchers set these in every process they start: Open MPI's mpirun, MPICH's Hydra
 * (PMI), PMIx-based launchers (srun --mpi=pmix, prterun). */
static const char *launcher_env(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return vars[i];
    return NULL;
}

const char *cli_mpi_launched(void) { return launcher_env(); }

#ifdef VD_HAVE_MPI

int cli_mpi_init(int *argc, char ***argv, cli_mpi *m)
{
    memset(m, 0, sizeof(*m));
    m->size = m->local_size = 1;
    int init = 0;
    MPI_Initialized(&init);
    if (!init && MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "verdant train: MPI_Init failed\n");
        return EXIT_FAIL;
    }
    /* Errors come back as codes (the collectives below check them) rather than aborting
     * the job from inside MPI without a message of ours. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    m->on = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->size);
    /* The ranks sharing this machine (portable MPI-3, no launcher variables needed). */
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, m->rank, MPI_INFO_NULL,
                            &local) == MPI_SUCCESS) {
        MPI_Comm_rank(local, &m->local_rank);
        MPI_Comm_size(local, &m->local_size);
        MPI_Comm_free(&local);
    }
    return EXIT_OK;
}

void cli_mpi_finalize(cli_mpi *m)
{
    if (m->on) MPI_Finalize();
    m->on = 0;
}

void cli_mpi_abort(const cli_mpi *m, int code)
{
    fflush(stdout);
    fflush(stderr);
    if (m->on && m->size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

int cli_mpi_agree(const cli_mpi *m, int ok, const char *msg, char *out, size_t cap)
{
    if (!m->on || m->size == 1) {
        if (!ok) snprintf(out, cap, "%s", msg ? msg : "");
        return ok;
    }
    /* The lowest failed rank and how many failed; then its message. */
    int mine[2] = {ok ? m->size : m->rank, ok ? 0 : 1}, lo = m->size, nfail = 0;
    MPI_Allreduce(&mine[0], &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&mine[1], &nfail, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (lo == m->size) return 1;
    char text[1024] = "";
    if (m->rank == lo) snprintf(text, sizeof(text), "%s", msg ? msg : "");
    MPI_Bcast(text, (int)sizeof(text), MPI_CHAR, lo, MPI_COMM_WORLD);
    if (!text[0]) snprintf(text, sizeof(text), "failed (its message is above)");
    if (nfail > 1)
        snprintf(out, cap, "rank %d: %s (and %d other rank%s failed)", lo, text, nfail - 1,
                 nfail > 2 ? "s" : "");
    else snprintf(out, cap, "rank %d: %s", lo, text);
    return 0;
}

int cli_mpi_differ(const cli_mpi *m, const double *v, int n, double *lo, double *hi)
{
    for (int i = 0; i < n; i++) lo[i] = hi[i] = v[i];
    if (!m->on || m->size == 1) return -1;
    MPI_Allreduce(v, lo, n, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(v, hi, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    for (int i = 0; i < n; i++)
        if (lo[i] != hi[i]) return i;
    return -1;
}

void cli_mpi_sum(const cli_mpi *m, double *v, int n)
{
    if (m->on && m->size > 1) MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

void cli_mpi_max(const cli_mpi *m, double *v, int n)
{
    if (m->on && m->size > 1) MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
}

void cli_mpi_gather(const cli_mpi *m, const char *mine, char *all, size_t each)
{
    if (!m->on || m->size == 1) {
        snprintf(all, each, "%s", mine);
        return;
    }
    char *buf = calloc(1, each);
    if (buf) snprintf(buf, each, "%s", mine);
    MPI_Gather(buf ? buf : (char *)mine, (int)each, MPI_CHAR, all, (int)each, MPI_CHAR, 0,
               MPI_COMM_WORLD);
    free(buf);
}

#else /* !VD_HAVE_MPI */

int cli_mpi_init(int *argc, char ***argv, cli_mpi *m)
{
    (void)argc;
    (void)argv;
    memset(m, 0, sizeof(*m));
    m->size = m->local_size = 1;
    const char *var = launcher_env();
    fprintf(stderr,
            "verdant train: %s; this verdant was built without MPI (install libopenmpi-dev "
            "and rebuild with -DVD_WITH_MPI=ON for data-parallel training)\n",
            var ? "started by an MPI launcher" : "--mpi given");
    return EXIT_FAIL;
}

void cli_mpi_finalize(cli_mpi *m) { m->on = 0; }
void cli_mpi_abort(const cli_mpi *m, int code)
{
    (void)m;
    (void)code;
}

int cli_mpi_agree(const cli_mpi *m, int ok, const char *msg, char *out, size_t cap)
{
    (void)m;
    if (!ok) snprintf(out, cap, "%s", msg ? msg : "");
    return ok;
}

int cli_mpi_differ(const cli_mpi *m, const double *v, int n, double *lo, double *hi)
{
    (void)m;
    for (int i = 0; i < n; i++) lo[i] = hi[i] = v[i];
    return -1;
}

void cli_mpi_sum(const cli_mpi *m, double *v, int n)
{
    (void)m;
    (void)v;
    (void)n;
}

void cli_mpi_max(const cli_mpi *m, double *v, int n)
{
    (void)m;
    (void)v;
    (void)n;
}

void cli_mpi_gather(const cli_mpi *m, const char *mine, char *all, size_t each)
{
    (void)m;
    snprintf(all, each, "%s", mine);
}

#endif
