// Thin main, fat library: everything lives in racehunt_core, which the tests link too.
#include "cli/cli.hpp"

int main(int argc, char** argv) {
    return racehunt::main(argc, argv);
}
