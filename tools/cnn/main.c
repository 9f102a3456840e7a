/* main.c — the `cnn` command: one verb per file. */
#include "cli.h"
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: cnn <command> [options]\n"
    "\n"
    "commands:\n"
    "  train    train a model (IDX, CIFAR, image folders), with checkpoints and resume\n"
    "  eval     evaluate trained weights on a test set\n"
    "  predict  classify a PNG/JPEG image or an IDX sample (top-k with probabilities)\n"
    "  info     print a model's layers, output shapes, parameters and multiply-adds\n"
    "  infer    run a model (native or .onnx) on raw float32 input, write raw float32 output\n"
    "  convert  translate an .onnx model into a model file and a weights file\n"
    "  report   write RUN_DIR/report.html: curves, confusion matrix, images, filters\n"
    "\n"
    "Run 'cnn <command> --help' for a command's options.\n";

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(verb, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(verb, "predict")) return cmd_predict(argc - 1, argv + 1);
    if (!strcmp(verb, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(verb, "infer")) return cmd_infer(argc - 1, argv + 1);
    if (!strcmp(verb, "convert")) return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(verb, "report")) return cmd_report(argc - 1, argv + 1);
    fprintf(stderr, "cnn: unknown command '%s'\n\n%s", verb, usage);
    return 2;
}
