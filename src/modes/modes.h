// The mode front ends. Each takes its own argv (argv[0] is what its usage text calls the program) and returns
// the process exit status.
#pragma once

#include <string>
#include <vector>

namespace ferry {

int run_mmproxy(const std::vector<std::string>& args, const std::string& argv0);
int run_moproxy(const std::vector<std::string>& args, const std::string& argv0);
int run_srcproxy(const std::vector<std::string>& args, const std::string& argv0);
int run_tproxy(const std::vector<std::string>& args, const std::string& argv0);
// `ferry run FILE`: any combination, from ferry's own configuration file.
int run_run(const std::vector<std::string>& args, const std::string& argv0);

}  // namespace ferry
