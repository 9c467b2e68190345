// flashjit-opt: mlir-opt with the flash dialect and flashjit's passes. Every stage's IR replays here.
#include "compiler/OptTool.h"

int main(int argc, char **argv) { return flashjit::runOptTool(argc, argv); }
