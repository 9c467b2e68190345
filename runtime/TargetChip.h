// Which chip's code may run on a GPU: what FLASHJIT_CHIP may ask for. Header-only (unit-tested on its own).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace flashjit {

/// Why code for `target` cannot run on a GPU of chip `device`: not one of `supported`, a newer chip, or
/// architecture-specific code (such as sm_90a) for another architecture; "" if it can.
inline std::string targetChipError(std::string_view target, std::string_view device,
                                   const std::vector<std::string> &supported) {
  if (std::find(supported.begin(), supported.end(), target) == supported.end()) {
    std::string list;
    for (const std::string &chip : supported)
      list += (list.empty() ? "" : ", ") + chip;
    return "chip " + std::string(target) + " is not supported: it must be one of " + list;
  }
  auto number = [](std::string_view chip) { return std::atoi(std::string(chip.substr(3)).c_str()); };
  const bool specific = target.back() == 'a'; // architecture-specific features: that architecture only
  if (specific ? number(target) != number(device) : number(target) > number(device))
    return "code for " + std::string(target) + " cannot run on this GPU (" + std::string(device) + "): " +
           (specific ? "architecture-specific code runs only on its own architecture" : "it needs a newer GPU");
  return "";
}

} // namespace flashjit
