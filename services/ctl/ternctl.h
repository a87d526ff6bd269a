#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace tern::ctl {

// The whole ternctl command line (argv without the program name); writes results to out and
// errors to err. Returns the exit code: 0 done, 1 failed, 2 usage error.
int RunTernctl(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
               std::ostream& err);

}  // namespace tern::ctl
