/* info.c — `cnn info MODEL`: the layer table. */
#include "cli.h"
#include <stdio.h>
#include <string.h>

int cmd_info(int argc, char **argv) {
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs("usage: cnn info MODEL\n\nPrint the layers of MODEL with their output shapes, "
              "parameter counts and\nmultiply-adds per image.\n",
              argc == 2 ? stdout : stderr);
        return argc == 2 ? 0 : 2;
    }
    cnn_net *net;
    if (cnn_net_load_model(&net, argv[1], 0) != CNN_OK) return cli_lib_error("info");
    printf("%s\n", argv[1]);
    int rc = cnn_net_summary(net, stdout) == CNN_OK ? 0 : cli_lib_error("info");
    cnn_net_free(net);
    return rc;
}
