#include "run/output_capture.hpp"

#include <algorithm>
#include <cerrno>

#include <fcntl.h>
#include <unistd.h>

namespace racehunt {

OutputCapture::OutputCapture(std::filesystem::path file, std::size_t head, std::size_t tail)
    : file_(std::move(file)), head_(head), tail_(tail) {
    fd_ = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

OutputCapture::~OutputCapture() {
    finish();
}

void OutputCapture::write_all(const char* data, std::size_t n) {
    while (fd_ >= 0 && n > 0) {
        ssize_t w = ::write(fd_, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            // A full or broken disk must not stop the run: keep counting, stop writing.
            ::close(fd_);
            fd_ = -1;
            return;
        }
        data += w;
        n -= static_cast<std::size_t>(w);
    }
}

void OutputCapture::append(const char* data, std::size_t n) {
    std::size_t written = static_cast<std::size_t>(std::min<std::uint64_t>(total_, head_));
    total_ += n;
    if (written < head_) {
        std::size_t take = std::min(n, head_ - written);
        write_all(data, take);
        data += take;
        n -= take;
    }
    if (n == 0 || tail_ == 0)
        return;
    if (ring_.empty())
        ring_.resize(tail_);
    if (n >= tail_) {
        data += n - tail_;
        n = tail_;
    }
    for (std::size_t i = 0; i < n;) {
        std::size_t chunk = std::min(n - i, tail_ - ring_pos_);
        std::copy(data + i, data + i + chunk, ring_.begin() + static_cast<std::ptrdiff_t>(ring_pos_));
        ring_pos_ = (ring_pos_ + chunk) % tail_;
        i += chunk;
    }
    ring_used_ = std::min(tail_, ring_used_ + n);
}

void OutputCapture::finish() {
    if (finished_)
        return;
    finished_ = true;
    if (ring_used_ > 0) {
        std::uint64_t dropped = omitted();
        if (dropped > 0) {
            std::string marker = "\n[racehunt: " + std::to_string(dropped) +
                                 " bytes omitted; the first " + std::to_string(head_) +
                                 " and last " + std::to_string(ring_used_) + " are kept]\n";
            write_all(marker.data(), marker.size());
        }
        std::size_t start = (ring_pos_ + tail_ - ring_used_) % tail_;
        std::size_t first = std::min(ring_used_, tail_ - start);
        write_all(ring_.data() + start, first);
        write_all(ring_.data(), ring_used_ - first);
    }
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
    std::vector<char>().swap(ring_);
}

} // namespace racehunt
