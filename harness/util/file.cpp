#include "util/file.hpp"

#include "util/error.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

namespace util {

namespace fs = std::filesystem;

AppendFile::~AppendFile() {
    if (fd_ >= 0)
        ::close(fd_);
}

void AppendFile::open(const fs::path& path, bool truncate) {
    path_ = path;
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0);
    fd_ = ::open(path.c_str(), flags, 0644);
    if (fd_ < 0)
        throw usage_error(path.string(), std::string("cannot open for writing: ") +
                                             std::strerror(errno),
                          "choose another --out directory");
}

bool AppendFile::write(const std::string& data) {
    const char* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
        ssize_t n = ::write(fd_, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    return true;
}

void write_file_atomic(const fs::path& path, const std::string& data) {
    std::error_code ec;
    if (path.has_parent_path())
        fs::create_directories(path.parent_path(), ec);
    fs::path tmp = path;
    tmp += ".tmp." + std::to_string(::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        throw usage_error(path.string(), std::string("cannot write: ") + std::strerror(errno));
    const char* p = data.data();
    std::size_t left = data.size();
    bool ok = true;
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ok = false;
            break;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    int saved = errno;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        if (ok)
            saved = errno;
        ::unlink(tmp.c_str());
        throw usage_error(path.string(), std::string("cannot write: ") + std::strerror(saved));
    }
}

void ensure_writable_dir(const fs::path& dir, const std::string& what) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir))
        throw usage_error(what, "cannot create directory " + dir.string() +
                                    (ec ? ": " + ec.message() : std::string()),
                          "choose a writable place with " + what);
    fs::path probe = dir / (".racehunt-probe-" + std::to_string(::getpid()));
    int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        throw usage_error(what, "directory " + dir.string() + " is not writable: " +
                                    std::strerror(errno),
                          "choose a writable place with " + what);
    ::close(fd);
    ::unlink(probe.c_str());
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace util
