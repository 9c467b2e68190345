#include "Ptxas.h"

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <unistd.h>

namespace flashjit::tools {

namespace {

std::string ptxasPath() {
  const char *home = std::getenv("CUDA_HOME");
  std::string path = std::string(home ? home : "/usr/local/cuda") + "/bin/ptxas";
  return std::filesystem::exists(path) ? path : "";
}

int firstNumber(const std::string &text, const std::string &pattern) {
  std::smatch match;
  if (std::regex_search(text, match, std::regex(pattern)))
    return std::stoi(match[1]);
  return 0;
}

} // namespace

PtxasReport runPtxas(const std::string &ptx, const std::string &chip) {
  PtxasReport report;
  std::string ptxas = ptxasPath();
  if (ptxas.empty())
    return report;
  // ptxas reads files: this check (not the compiler) uses a temporary directory, one per call (calls may
  // run on several threads at once).
  static std::atomic<unsigned> calls{0};
  std::string dir = std::filesystem::temp_directory_path() /
                    ("flashjit-ptxas-" + std::to_string(getpid()) + "-" + std::to_string(calls++));
  std::filesystem::create_directories(dir);
  std::string input = dir + "/kernel.ptx", output = dir + "/kernel.cubin";
  std::ofstream(input) << ptx;
  std::string command = ptxas + " -arch=" + chip + " -v " + input + " -o " + output + " 2>&1";
  FILE *pipe = popen(command.c_str(), "r");
  if (!pipe)
    return report;
  std::array<char, 4096> buffer;
  while (fgets(buffer.data(), buffer.size(), pipe))
    report.log += buffer.data();
  int status = pclose(pipe);
  std::filesystem::remove_all(dir);
  report.ran = true;
  report.ok = status == 0;
  report.registers = firstNumber(report.log, "Used (\\d+) registers");
  report.spillStores = firstNumber(report.log, "(\\d+) bytes spill stores");
  report.spillLoads = firstNumber(report.log, "(\\d+) bytes spill loads");
  report.sharedStatic = firstNumber(report.log, "(\\d+) bytes smem");
  // Warnings, and the numbered advisories ptxas prints as "info", such as "(C7519) warpgroup.arrive is
  // injected": each one means code it had to fix up or serialise.
  std::istringstream lines(report.log);
  const std::regex advisory("\\(C[0-9]{4}\\)");
  for (std::string line; std::getline(lines, line);)
    if (line.find("warning") != std::string::npos || std::regex_search(line, advisory))
      report.warnings.push_back(line);
  return report;
}

} // namespace flashjit::tools
