/* test_train_mlp.c - end to end: train a small MLP on a Fashion-MNIST subset through the
 * selected OpenCL device (PoCL on CI) with the library's own loop, and check that the
 * loss falls and the test accuracy clearly beats chance (10%). Skipped when the dataset
 * (Debian package dataset-fashion-mnist) or a device is missing; CI installs both. */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

int main(void)
{
    vd_context *ctx = NULL;
    vd_dataset *train_all = NULL, *test_all = NULL, *train = NULL, *test = NULL;
    vd_net *net = NULL;
    const char *dir = getenv("VERDANT_DATA_DIR");
    if (vd_dataset_load_mnist(dir, "train", &train_all) != VD_OK ||
        vd_dataset_load_mnist(dir, "test", &test_all) != VD_OK) {
        check_skip("train MLP", vd_last_error(NULL));
        goto done;
    }
    if (test_context(&ctx)) goto done;
    EXPECT_OK(NULL, vd_dataset_subset(train_all, 0, 6000, &train));
    EXPECT_OK(NULL, vd_dataset_subset(test_all, 0, 2000, &test));
    if (!train || !test) goto done;
    vd_dataset_set_normalization(train, 0.2860f, 0.3530f);
    vd_dataset_set_normalization(test, 0.2860f, 0.3530f);

    EXPECT_OK(ctx, vd_net_create(ctx, &net));
    EXPECT_OK(ctx, vd_net_input(net, 3, (int64_t[]){1, 28, 28}));
    EXPECT_OK(ctx, vd_net_add(net, "flatten", NULL, NULL));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc1", "units=128"));
    EXPECT_OK(ctx, vd_net_add(net, "relu", NULL, NULL));
    EXPECT_OK(ctx, vd_net_add(net, "dropout", NULL, "p=0.1"));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc2", "units=10"));
    if (!EXPECT_OK(ctx, vd_net_build(net, 64))) goto done;
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_ADAM);
    EXPECT_OK(ctx, vd_net_set_optimizer(net, &o));

    vd_eval_stats before, after;
    EXPECT_OK(ctx, vd_net_evaluate(net, test, &before));
    vd_train_options to;
    vd_train_options_init(&to);
    vd_epoch_stats e1 = {0}, e2 = {0};
    EXPECT_OK(ctx, vd_net_train_epoch(net, train, 1, &to, &e1));
    vd_context_stats s1, s2;
    EXPECT_OK(ctx, vd_context_stats_get(ctx, &s1));
    EXPECT_OK(ctx, vd_net_train_epoch(net, train, 2, &to, &e2));
    EXPECT_OK(ctx, vd_context_stats_get(ctx, &s2));
    expect_true("training steps allocate no device memory",
                s2.pool_allocations == s1.pool_allocations &&
                    s2.pool_bytes_in_use == s1.pool_bytes_in_use);
    EXPECT_OK(ctx, vd_net_evaluate(net, test, &after));
    printf("before: loss %.4f acc %.2f%%\n", before.loss, 100 * before.accuracy);
    printf("epoch 1: loss %.4f train %.2f%% (%.0f img/s)\n", e1.loss, 100 * e1.train_accuracy,
           e1.images_per_second);
    printf("epoch 2: loss %.4f train %.2f%% (%.0f img/s)\n", e2.loss, 100 * e2.train_accuracy,
           e2.images_per_second);
    printf("after: loss %.4f acc %.2f%%\n", after.loss, 100 * after.accuracy);
    expect_true("all samples seen", e1.samples == 6000 && after.samples == 2000);
    expect_true("epoch 1 loss below chance level ln(10)", e1.loss < 2.3026);
    expect_true("loss falls from epoch 1 to epoch 2", e2.loss < e1.loss);
    expect_true("test loss falls", after.loss < before.loss);
    expect_true("test accuracy clearly beats chance (> 70%)", after.accuracy > 0.70);
done:
    vd_net_destroy(net);
    vd_dataset_destroy(train);
    vd_dataset_destroy(test);
    vd_dataset_destroy(train_all);
    vd_dataset_destroy(test_all);
    vd_context_destroy(ctx);
    return check_summary();
}
