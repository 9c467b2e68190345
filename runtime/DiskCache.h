// Entries of flashjit's on-disk cache: a text header (magic, key, fields, checksum and size of the payload),
// a blank line, then the payload (the PTX).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace flashjit::disk {

/// The cache directory: $FLASHJIT_CACHE_DIR, else ~/.cache/flashjit; "" when FLASHJIT_CACHE=0 (or no HOME).
std::string directory();

uint64_t fnv1a(const std::string &bytes);
std::string hex(uint64_t value);

/// An entry's path for `key` in `dir`: a hash of the key with `extension` (".fjk").
std::string pathFor(const std::string &dir, const std::string &key, const char *extension);

enum class ReadResult { missing, hit, damaged };

/// Reads the entry at `path`. `damaged` (the file was removed) when its magic, key, checksum or size is
/// wrong or a header field is malformed: a damaged entry is never trusted.
ReadResult read(const std::string &path, const std::string &magic, const std::string &key,
                std::map<std::string, std::string> &fields, std::string &payload);

/// Writes an entry atomically: a temporary file in the same directory renamed over `path`, so readers
/// see the old entry, none, or the whole new one. A cache that cannot be written is skipped, not fatal.
void write(const std::string &path, const std::string &magic, const std::string &key,
           const std::map<std::string, std::string> &fields, const std::string &payload);

/// Removes the entries of `dir` whose name ends with one of flashjit's extensions; their total size in bytes
/// (size only, nothing removed, when `remove` is false).
long long sweep(const std::string &dir, bool remove);

} // namespace flashjit::disk
