// ternctl: the operator's command line (users, schema migrations).
#include <iostream>
#include <string>
#include <vector>

#include "services/ctl/ternctl.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return tern::ctl::RunTernctl(args, std::cin, std::cout, std::cerr);
}
