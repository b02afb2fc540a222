/* mpi_allreduce.c - the floor under data-parallel training's communication: the time of one
 * MPI_Allreduce (in place, MPI_FLOAT, MPI_SUM, as src/net/dist.c does) of a model's
 * gradients, with nothing else running in the ranks, so no waiting for a slower rank.
 * Usage: mpirun -np N bench/mpi_allreduce [FLOATS...] (default: LeNet-5's 61,706 and the
 * VGG-BN sample's 437,418 parameters). 10 untimed calls, then 200 timed; prints the mean,
 * and the min and max of 5 blocks of 40. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long def[2] = {61706, 437418};
    int n_sizes = argc > 1 ? argc - 1 : 2;
    for (int k = 0; k < n_sizes; k++) {
        long n = argc > 1 ? atol(argv[k + 1]) : def[k];
        float *b = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
        if (!b || n <= 0 || n > 1 << 30) {
            if (rank == 0) fprintf(stderr, "mpi_allreduce: bad size %ld\n", n);
            free(b);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
        for (int i = 0; i < 10; i++)
            MPI_Allreduce(MPI_IN_PLACE, b, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double lo = 1e30, hi = 0, total = 0;
        for (int blk = 0; blk < 5; blk++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t = MPI_Wtime();
            for (int i = 0; i < 40; i++)
                MPI_Allreduce(MPI_IN_PLACE, b, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            t = (MPI_Wtime() - t) / 40;
            total += t / 5;
            if (t < lo) lo = t;
            if (t > hi) hi = t;
        }
        if (rank == 0)
            printf("%d ranks, %ld floats (%.0f KiB): %.2f ms per MPI_Allreduce (blocks %.2f-%.2f)\n",
                   size, n, (double)n * 4 / 1024, total * 1e3, lo * 1e3, hi * 1e3);
        free(b);
    }
    MPI_Finalize();
    return 0;
}
