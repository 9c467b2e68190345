#include "runtime/DiskCache.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace flashjit::disk {

namespace fs = std::filesystem;

std::string directory() {
  const char *enabled = std::getenv("FLASHJIT_CACHE");
  if (enabled && std::string(enabled) == "0")
    return "";
  if (const char *dir = std::getenv("FLASHJIT_CACHE_DIR"); dir && *dir)
    return dir;
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/flashjit";
  return "";
}

uint64_t fnv1a(const std::string &bytes) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : bytes)
    hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

std::string hex(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

std::string pathFor(const std::string &dir, const std::string &key, const char *extension) {
  return dir + "/" + hex(fnv1a(key)) + extension;
}

namespace {

bool parse(const std::string &bytes, const std::string &magic, const std::string &key,
           std::map<std::string, std::string> &fields, std::string &payload) {
  std::istringstream in(bytes);
  std::string line;
  if (!std::getline(in, line) || line != magic)
    return false;
  fields.clear();
  while (std::getline(in, line) && !line.empty()) {
    size_t space = line.find(' ');
    if (space == std::string::npos)
      return false;
    fields[line.substr(0, space)] = line.substr(space + 1);
  }
  size_t size = 0;
  std::string checksum;
  try {
    if (fields.at("key") != key)
      return false;
    checksum = fields.at("checksum");
    size = std::stoull(fields.at("size"));
  } catch (const std::exception &) {
    return false;
  }
  std::streampos start = in.tellg();
  if (start < 0 || bytes.size() - size_t(start) != size)
    return false;
  payload = bytes.substr(size_t(start));
  return hex(fnv1a(payload)) == checksum;
}

} // namespace

ReadResult read(const std::string &path, const std::string &magic, const std::string &key,
                std::map<std::string, std::string> &fields, std::string &payload) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return ReadResult::missing;
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (parse(bytes, magic, key, fields, payload))
    return ReadResult::hit;
  std::error_code error;
  fs::remove(path, error);
  return ReadResult::damaged;
}

void write(const std::string &path, const std::string &magic, const std::string &key,
           const std::map<std::string, std::string> &fields, const std::string &payload) {
  std::ostringstream entry;
  entry << magic << "\nkey " << key << "\n";
  for (const auto &[name, value] : fields)
    entry << name << " " << value << "\n";
  entry << "checksum " << hex(fnv1a(payload)) << "\nsize " << payload.size() << "\n\n" << payload;
  std::string bytes = entry.str();

  std::error_code error;
  fs::create_directories(fs::path(path).parent_path(), error);
  std::ostringstream temporary;
  temporary << path << ".tmp." << getpid() << "." << std::this_thread::get_id();
  {
    std::ofstream file(temporary.str(), std::ios::binary | std::ios::trunc);
    if (!file)
      return;
    file.write(bytes.data(), std::streamsize(bytes.size()));
    if (!file.flush())
      return;
  }
  fs::rename(temporary.str(), path, error);
  if (error)
    fs::remove(temporary.str(), error);
}

long long sweep(const std::string &dir, bool remove) {
  long long bytes = 0;
  std::error_code error;
  if (dir.empty() || !fs::is_directory(dir, error))
    return 0;
  for (const auto &entry : fs::directory_iterator(dir, error)) {
    std::string extension = entry.path().extension().string();
    if (!entry.is_regular_file(error) || extension != ".fjk")
      continue;
    bytes += (long long)entry.file_size(error);
    if (remove)
      fs::remove(entry.path(), error);
  }
  return bytes;
}

} // namespace flashjit::disk
