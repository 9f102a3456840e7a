/* cli.h — what the verbs of the `cnn` tool share: flags, data folders, errors. */
#ifndef CNN_CLI_H
#define CNN_CLI_H

#include "cnn.h"

/* A flag parser: --name value or --name=value; boolean flags take no value. */
typedef struct {
    int argc;
    char **argv;
    int i;
    const char *verb;
} cli_args;

/* Print "cnn VERB: message" to stderr; returns 1 (runtime) for main to exit with. */
int cli_error(const char *verb, const char *fmt, ...);
/* The library's last error as a one-line message; returns 1. */
int cli_lib_error(const char *verb);
/* Parse an integer or float flag value; on error print and return non-zero. */
int cli_int(const char *verb, const char *flag, const char *v, int lo, int hi, int *out);

/* The training or test split of a data folder, in whichever format it holds:
 *   idx       train-images-idx3-ubyte[.gz], train-labels-..., t10k-...
 *   cifar10   data_batch_1.bin .. data_batch_5.bin, test_batch.bin
 *   cifar100  train.bin, test.bin
 *   folder    train/CLASS/IMAGE.png or .jpg, test/CLASS/... (sized to net's input)
 * net may be NULL except for image folders. */
cnn_status cli_load_split(const char *dir, int train, const cnn_net *net, cnn_dataset *ds);
/* The same, but raw IDX images stay in their file and are read per batch
 * (cnn_dataset_open_idx): what `cnn train` uses. */
cnn_status cli_open_split(const char *dir, int train, const cnn_net *net, cnn_dataset *ds);
const char *cli_data_format(const char *dir);
/* Load a model file and, if given, a weights file. */
cnn_status cli_load_net(const char *model, const char *weights, cnn_net **net);
/* Apply "--key value" training overrides (key as in the model file's train
 * line, dashes allowed) to cfg. Returns CNN_OK or a parse error. */
cnn_status cli_train_override(cnn_train_config *cfg, const char *key, const char *value);

/* Progress output: a live bar on a terminal, plain lines otherwise. */
int cli_progress(const cnn_progress *p, void *user);
int cli_epoch(const cnn_epoch_stats *e, void *user);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
