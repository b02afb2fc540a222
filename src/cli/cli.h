/* cli.h - what the `verdant` command's files share: verbs, their usage texts, and a small
 * table-driven flag parser so every verb spells its flags the same way. */
#ifndef VD_CLI_H
#define VD_CLI_H

#include <stdio.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef enum { FLAG_STR, FLAG_INT, FLAG_FLOAT, FLAG_BOOL } flag_type;

typedef struct flag {
    const char *name; /* "--epochs" */
    flag_type type;
    void *dst;     /* const char **, long *, double *, int * */
    double lo, hi; /* bounds for numbers */
} flag;

/* Parse argv[1..argc) against flags (NULL-name terminated). Arguments that are not flags
 * are collected into positional[0..*n_pos) (up to max_pos). Returns EXIT_OK, or prints a
 * one-line error naming the verb and returns EXIT_USAGE; *help is set for -h/--help. */
int cli_parse(const char *verb, int argc, char **argv, const flag *flags, const char **positional,
              int max_pos, int *n_pos, int *help);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_bench(int argc, char **argv); /* cmd_bench.c */
int cmd_info(int argc, char **argv);  /* cmd_info.c */
int cmd_cache(int argc, char **argv); /* cmd_info.c */
int cmd_plot(int argc, char **argv);  /* cmd_plot.c */
int cmd_export(int argc, char **argv); /* cmd_export.c */
int cmd_import(int argc, char **argv); /* cmd_import.c */

#include <stdint.h>

#include <verdant.h>
/* A checkpoint, or an ONNX model when the path ends in .onnx (imported, weights and all;
 * *state, may be NULL, then holds the defaults). cmd_import.c */
vd_status cli_load_model(vd_context *ctx, const char *path, int32_t max_batch, vd_net **net,
                         vd_train_state *state);

#define USAGE_IMPORT                                                                        \
    "usage: verdant import MODEL.onnx -o MODEL.ckpt [--optimizer NAME] [--lr F] [--quiet]\n" \
    "\n"                                                                                    \
    "Import an ONNX model (opsets 7 to 21; docs/ONNX.md lists the operators) with its\n"    \
    "weights and batch-norm statistics into a checkpoint that verdant eval, predict,\n"     \
    "bench and train --resume take. Prints the layers it became. eval, predict and bench\n" \
    "also read MODEL.onnx directly. An operator or attribute Verdant cannot express is an\n" \
    "error naming the node, the operator, the attribute and the opset.\n"                   \
    "\n"                                                                                    \
    "options:\n"                                                                            \
    "  -o, --output FILE  the checkpoint to write (atomically)\n"                           \
    "  --optimizer NAME   the fresh optimizer stored for train --resume: sgd, adam or\n"     \
    "                     adamw (default adam)\n"                                           \
    "  --lr F             its learning rate (default: 0.001, SGD 0.01)\n"                  \
    "  --device STR       gpu, cpu, P:D or a name substring\n"                              \
    "  --quiet            no layer table\n"
/* cli_mpi.c: data-parallel `verdant train` under mpirun (docs/DISTRIBUTED.md). */
typedef struct cli_mpi {
    int on;                      /* MPI initialised by cli_mpi_init */
    int rank, size;              /* in MPI_COMM_WORLD (0 and 1 when off) */
    int local_rank, local_size;  /* among the ranks on this machine */
} cli_mpi;
/* The launcher variable that says this process was started by mpirun/srun, or NULL. */
const char *cli_mpi_launched(void);
/* MPI_Init and the ranks; EXIT_FAIL with a message (built without MPI, MPI_Init failed). */
int cli_mpi_init(int *argc, char ***argv, cli_mpi *m);
void cli_mpi_finalize(cli_mpi *m);
/* MPI_Abort of every rank after a failure past the set-up (no-op with one rank). */
void cli_mpi_abort(const cli_mpi *m, int code);
/* Collective: 1 when every rank passes ok; else 0 on every rank, with out set to the
 * message of the lowest failed rank, "rank R: msg" (and how many others failed). */
int cli_mpi_agree(const cli_mpi *m, int ok, const char *msg, char *out, size_t cap);
/* Collective: the index of the first of v[0..n) that differs between ranks (lo/hi get
 * the minimum and maximum over the ranks), or -1 when all agree. */
int cli_mpi_differ(const cli_mpi *m, const double *v, int n, double *lo, double *hi);
void cli_mpi_sum(const cli_mpi *m, double *v, int n); /* in place over the ranks */
void cli_mpi_max(const cli_mpi *m, double *v, int n);
/* Rank 0 receives every rank's string in all[r * each] (each bytes per rank). */
void cli_mpi_gather(const cli_mpi *m, const char *mine, char *all, size_t each);

#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

#define USAGE_TRAIN                                                                        \
    "usage: verdant train MODEL.cfg [options]\n"                                           \
    "\n"                                                                                   \
    "Train the network described in MODEL.cfg on an IDX dataset (Fashion-MNIST layout).\n" \
    "\n"                                                                                   \
    "options:\n"                                                                           \
    "  --data DIR         dataset directory (default " DEFAULT_DATA ")\n"                  \
    "  --epochs N         epochs to train in total (default 5)\n"                          \
    "  --batch N          global batch size (default 64); under mpirun -np R each rank\n"  \
    "                     takes N/R of it (N must divide by R)\n"                         \
    "  --lr F             base learning rate (default: the optimizer's)\n"                 \
    "  --optimizer NAME   sgd, adam or adamw (default adam)\n"                             \
    "  --momentum F       SGD momentum (default 0.9)\n"                                    \
    "  --weight-decay F   weight decay (default 0)\n"                                      \
    "  --clip-norm F      clip gradients to this global L2 norm (default 0: off)\n"          \
    "  --crop-pad N       augment: random crop after padding by N pixels (default 0: off)\n" \
    "  --flip             augment: random left-right flip\n"                                \
    "  --schedule NAME    constant, step or cosine (default constant)\n"                   \
    "  --step-size N      epochs between x0.1 steps for --schedule step (default 3)\n"     \
    "  --warmup N         epochs of linear warm-up (default 0)\n"                          \
    "  --seed N           weight init, dropout and shuffling seed (default 42)\n"          \
    "  --device STR       gpu, cpu, P:D or a name substring\n"                             \
    "  --checkpoint FILE  save a checkpoint after every epoch (written atomically)\n"      \
    "  --resume FILE      continue from a checkpoint (MODEL.cfg may then be omitted);\n"   \
    "                     its plan (epochs, batch, schedule, augmentation) applies\n"     \
    "                     where no flag overrides it\n"                                  \
    "  --log FILE.jsonl   append one JSON object per epoch\n"                              \
    "  --limit N          use only the first N training images (quick runs)\n"             \
    "  --profile          print per-layer kernel times after each epoch (also\n"          \
    "                     VERDANT_PROFILE=1, which prints to stderr)\n"                   \
    "  --mpi              data-parallel over MPI (automatic under mpirun; see\n"          \
    "                     docs/DISTRIBUTED.md): rank 0 prints, logs and checkpoints\n"    \
    "  -h, --help         this text\n"

#define USAGE_BENCH                                                                        \
    "usage: verdant bench [MODEL.cfg...] [--batch B] [--steps N] [--layers] [--json]\n"     \
    "                     [--device STR]\n"                                              \
    "\n"                                                                                  \
    "Measure each model (default: samples/models/lenet5.cfg and vgg_bn.cfg) on synthetic\n" \
    "batches of its input shape: training images/s (N steps of Adam after the warm-up\n"  \
    "steps) and inference images/s (N batches). With --layers, also every convolution\n"  \
    "layer's passes (fwd, bwd_data, bwd_filter) with each algorithm that applies: ms,\n"  \
    "GFLOP/s (2*K*C/groups*R*S*P*Q*batch per pass), % of the device's peak, and the one\n" \
    "the layer's automatic choice takes (*). The peak is a nominal figure: compute units\n" \
    "x clock x native float vector width x 2 (FMA) x 2 (FMA pipes), as the driver\n"     \
    "reports them, not a measured ceiling.\n"                                            \
    "\n"                                                                                  \
    "options:\n"                                                                          \
    "  --batch B     images per step (default 64)\n"                                     \
    "  --steps N     timed training steps and inference batches (default 20)\n"         \
    "  --warmup W    untimed training steps first (default 3)\n"                         \
    "  --layers      per-layer convolution table\n"                                      \
    "  --reps R      timed runs per layer, pass and algorithm; the best is kept (default 5)\n" \
    "  --json        one JSON document on stdout instead of the tables\n"                \
    "  --device STR  gpu, cpu, P:D or a name substring\n"                                \
    "  -h, --help    this text\n"

#define USAGE_EVAL                                                                    \
    "usage: verdant eval CHECKPOINT|MODEL.onnx [--data DIR] [--device STR] [--batch N]\n" \
    "\n"                                                                              \
    "Evaluate a checkpoint (or an ONNX model) on the test split: accuracy, per-class accuracy and the\n" \
    "confusion matrix (rows: true class, columns: predicted).\n"

#define USAGE_PLAN                                                                        \
    "usage: verdant plan MODEL.cfg [--batch N] [--device STR]\n"                          \
    "\n"                                                                                  \
    "Print each layer's output shape and parameters, and the device memory the network\n" \
    "uses for training at that batch size.\n"

#define USAGE_PREDICT \
"usage: verdant predict CHECKPOINT|MODEL.onnx IMAGE... [options]\n" \
"\n" \
"Classify images with a trained checkpoint (or an ONNX model) and print the top classes with their softmax\n" \
"probabilities. IMAGE is a PNG file (.png; colour is converted to grey), a binary PGM file\n" \
"(.pgm, P5) or an IDX image file (gzip or raw; every image in it, or one with --index). An\n" \
"image must have the network's input size (28x28 for the samples): it is not resized.\n" \
"Pixels are scaled to [0, 1] and normalised with --mean and --std (default: Fashion-MNIST's\n" \
"0.2860 and 0.3530, as verdant train uses).\n" \
"\n" \
"options:\n" \
"  --top K       classes to show (default 3)\n" \
"  --index N     only image N of an IDX file\n" \
"  --mean F      normalisation mean (default 0.2860)\n" \
"  --std F       normalisation std (default 0.3530)\n" \
"  --device STR  gpu, cpu, P:D or a name substring\n"

#define USAGE_INFO                                                                         \
    "usage: verdant info [--device STR]\n"                                                \
    "\n"                                                                                  \
    "Show the device a context picks and its driver, the energy meters this machine has\n" \
    "(or why each is unavailable) and the one training would use, and the cache\n"        \
    "directories (Verdant's kernel and tuning cache, PoCL's kernel cache) with their\n"    \
    "sizes.\n"

#define USAGE_CACHE                                                                      \
    "usage: verdant cache clear\n"                                                       \
    "\n"                                                                                 \
    "Remove Verdant's compiled kernel programs (*.bin), tuning files (tune-*.txt) and\n" \
    "clFFT's kernel binaries (clfft-VERSION/) from the cache directory\n"                \
    "(VERDANT_CACHE_DIR, else $XDG_CACHE_HOME/verdant, else ~/.cache/verdant). Other\n"  \
    "files there, and PoCL's own cache, are left alone.\n"

#define USAGE_PLOT                                                                           \
    "usage: verdant plot LOG.jsonl -o OUT.png|OUT.svg [--title TEXT]\n"                     \
    "\n"                                                                                    \
    "Draw the training curves of a `verdant train --log` file: loss and accuracy per\n"     \
    "epoch (train and test), images/s and, when an energy meter was present, images/J.\n"  \
    "The format follows the extension (.png through PLplot's pngcairo driver, .svg).\n"     \
    "When the log holds several runs (epochs start again at 1), the last one is drawn.\n"  \
    "\n"                                                                                    \
    "options:\n"                                                                            \
    "  -o FILE       output file (.png or .svg)\n"                                          \
    "  --title TEXT  title above the plots (default: the log's file name)\n"

#define USAGE_EXPORT                                                                         \
    "usage: verdant export MODEL.ckpt|MODEL.cfg -o MODEL.onnx [--seed N] [--device STR]\n"   \
    "\n"                                                                                    \
    "Write a network as an ONNX model (IR version 8, opset 17) that ONNX Runtime and other\n" \
    "ONNX tools run: what 'verdant predict' computes (dropout off, batch norm with its\n"    \
    "running statistics), the weights as initializers, the batch dimension symbolic (N).\n" \
    "A checkpoint gives its trained weights; a network file its initial weights (from its\n" \
    "[net] seed, or --seed). The output is the last layer's (scores unless the model ends\n" \
    "in softmax). A layer or option ONNX cannot express exactly is refused, naming both\n"  \
    "(docs/ONNX.md). The file is written to a temporary name and renamed.\n"               \
    "\n"                                                                                    \
    "options:\n"                                                                            \
    "  -o, --output FILE  the ONNX file to write\n"                                         \
    "  --seed N           weight seed for a MODEL.cfg (default: its [net] seed, else 42)\n"  \
    "  --device STR       gpu, cpu, P:D or a name substring\n"                              \
    "  -h, --help         this text\n"

#endif /* VD_CLI_H */
