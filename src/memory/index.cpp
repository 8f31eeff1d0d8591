// VectorIndex: one namespace's vectors, exact below a threshold and HNSW (8-bit, re-scored on
// floats) above it; save, load and catch-up.
#include "memory/index.hpp"

#include <hnswlib/hnswlib.h>

#include <cmath>
#include <cstring>

#include <algorithm>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "memory/simd.hpp"

namespace cn::memory {

// The HNSW space: each element is a quantized copy of the vector (a float scale and one signed
// byte per component; 4x less memory to walk than floats) followed by the float vector itself.
// The graph is built and searched on the bytes; the final candidates are re-scored on the
// floats, so results are ordered by the true similarity.
class QuantizedSpace : public hnswlib::SpaceInterface<float> {
 public:
  explicit QuantizedSpace(size_t dims) : dims_(dims), padded_((dims + 31) / 32 * 32) {}
  size_t get_data_size() override { return floats_offset() + dims_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return simd::quantized_distance(); }
  void* get_dist_func_param() override { return &padded_; }

  size_t floats_offset() const { return sizeof(float) + padded_; }
  // Writes the element for `v` into `out` (get_data_size() bytes).
  void encode(const float* v, char* out) const {
    float max_abs = 0;
    for (size_t i = 0; i < dims_; ++i) max_abs = std::max(max_abs, std::fabs(v[i]));
    float scale = max_abs > 0 ? max_abs / 127.f : 0.f;
    std::memcpy(out, &scale, sizeof scale);
    auto* q = reinterpret_cast<int8_t*>(out + sizeof(float));
    for (size_t i = 0; i < padded_; ++i) {
      float x = i < dims_ && scale > 0 ? std::nearbyint(v[i] / scale) : 0.f;
      q[i] = static_cast<int8_t>(std::clamp(x, -127.f, 127.f));
    }
    std::memcpy(out + floats_offset(), v, dims_ * sizeof(float));
  }
  const float* floats(const char* element) const {
    return reinterpret_cast<const float*>(element + floats_offset());
  }

 private:
  size_t dims_;
  size_t padded_;
};

constexpr const char* kFormat = "continuum-vector-index 2";

VectorIndex::VectorIndex(size_t dims, Params p) : dims_(dims), p_(p) {}
VectorIndex::~VectorIndex() = default;

void VectorIndex::set_ef(size_t ef) {
  std::unique_lock lk(mu_);
  p_.ef_search = ef;
  if (hnsw_) hnsw_->setEf(ef);
}

size_t VectorIndex::size() const {
  std::shared_lock lk(mu_);
  return hnsw_ ? live_ : labels_.size();
}

size_t VectorIndex::memory_bytes() const {
  std::shared_lock lk(mu_);
  if (!hnsw_) return flat_.size() * sizeof(float) + labels_.size() * 32;
  return hnsw_->max_elements_ * (hnsw_->size_data_per_element_ + sizeof(void*)) +
         live_ * p_.M * sizeof(uint32_t);
}

void VectorIndex::to_hnsw_locked(size_t capacity) {
  space_ = std::make_unique<QuantizedSpace>(dims_);
  hnsw_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), std::max<size_t>(capacity, 1024), p_.M,
                                                            p_.ef_construction);
  hnsw_->setEf(p_.ef_search);
  std::vector<char> buf(space_->get_data_size());
  for (size_t i = 0; i < labels_.size(); ++i) {
    space_->encode(flat_.data() + i * dims_, buf.data());
    hnsw_->addPoint(buf.data(), static_cast<hnswlib::labeltype>(labels_[i]));
  }
  live_ = labels_.size();
  flat_.clear();
  flat_.shrink_to_fit();
  labels_.clear();
  slot_.clear();
}

void VectorIndex::add_locked(int64_t label, const float* v) {
  if (hnsw_) {
    std::vector<char> buf(space_->get_data_size());
    space_->encode(v, buf.data());
    auto l = static_cast<hnswlib::labeltype>(label);
    auto found = hnsw_->label_lookup_.find(l);
    if (found != hnsw_->label_lookup_.end()) {
      if (hnsw_->isMarkedDeleted(found->second)) {
        hnsw_->unmarkDelete(l);
        ++live_;
      }
      hnsw_->addPoint(buf.data(), l);  // an existing label: hnswlib updates its vector in place
      return;
    }
    if (hnsw_->cur_element_count >= hnsw_->max_elements_) hnsw_->resizeIndex(hnsw_->max_elements_ * 2);
    hnsw_->addPoint(buf.data(), l);
    ++live_;
    return;
  }
  auto it = slot_.find(label);
  if (it != slot_.end()) {
    std::copy(v, v + dims_, flat_.begin() + static_cast<long>(it->second * dims_));
    return;
  }
  slot_[label] = labels_.size();
  labels_.push_back(label);
  flat_.insert(flat_.end(), v, v + dims_);
  if (p_.grow_into_hnsw && labels_.size() > p_.threshold_for(dims_)) to_hnsw_locked(labels_.size() * 2);
}

bool VectorIndex::set_aside(int64_t label, const float* v) {
  std::lock_guard lk(side_mu_);
  if (!saving_) return false;
  if (v) {
    side_del_.erase(label);
    side_add_[label].assign(v, v + dims_);
  } else {
    side_add_.erase(label);
    side_del_.insert(label);
  }
  return true;
}

template <typename Change>
void VectorIndex::write(int64_t label, const float* v, Change change) {
  ++changes_;
  for (;;) {
    if (set_aside(label, v)) return;
    // A save takes the lock shared for as long as it writes: give up waiting and set aside.
    std::unique_lock lk(mu_, std::defer_lock);
    if (lk.try_lock_for(std::chrono::milliseconds(2))) {
      change();
      return;
    }
  }
}

void VectorIndex::add(int64_t label, const float* v) {
  write(label, v, [&] { add_locked(label, v); });
}

void VectorIndex::add_many(const std::vector<int64_t>& labels, const std::vector<float>& flat, int threads,
                           const std::atomic<bool>* cancel) {
  std::unique_lock lk(mu_);
  size_t n = labels.size();
  size_t total = (hnsw_ ? live_ : labels_.size()) + n;
  if (!hnsw_ && total <= p_.threshold_for(dims_)) {
    for (size_t i = 0; i < n; ++i) add_locked(labels[i], flat.data() + i * dims_);
    return;
  }
  if (!hnsw_) to_hnsw_locked(total + total / 4);
  if (hnsw_->max_elements_ < hnsw_->cur_element_count + n) hnsw_->resizeIndex(hnsw_->cur_element_count + n + n / 4);
  // hnswlib supports concurrent addPoint for distinct labels.
  std::atomic<size_t> next{0}, added{0};
  auto work = [&] {
    std::vector<char> buf(space_->get_data_size());
    for (size_t i = next++; i < n; i = next++) {
      if (cancel && cancel->load(std::memory_order_relaxed)) return;
      space_->encode(flat.data() + i * dims_, buf.data());
      hnsw_->addPoint(buf.data(), static_cast<hnswlib::labeltype>(labels[i]));
      ++added;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  live_ += added;
}

size_t VectorIndex::sync(const std::vector<int64_t>& labels, const std::vector<float>& flat) {
  std::unique_lock lk(mu_);
  size_t changed = 0;
  std::unordered_map<int64_t, size_t> want;
  want.reserve(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) want[labels[i]] = i;
  if (!hnsw_) {
    std::vector<int64_t> extra;
    for (int64_t l : labels_)
      if (!want.count(l)) extra.push_back(l);
    changed += extra.size();
    for (int64_t l : extra) remove_locked(l);
    for (size_t i = 0; i < labels.size(); ++i) {
      auto it = slot_.find(labels[i]);
      const float* v = flat.data() + i * dims_;
      if (it != slot_.end() && std::equal(v, v + dims_, flat_.begin() + static_cast<long>(it->second * dims_))) continue;
      add_locked(labels[i], v);
      ++changed;
    }
    return changed;
  }
  std::vector<hnswlib::labeltype> extra;
  for (const auto& [label, id] : hnsw_->label_lookup_)
    if (!hnsw_->isMarkedDeleted(id) && !want.count(static_cast<int64_t>(label))) extra.push_back(label);
  for (auto l : extra) {
    hnsw_->markDelete(l);
    --live_;
  }
  changed += extra.size();
  for (size_t i = 0; i < labels.size(); ++i) {
    const float* v = flat.data() + i * dims_;
    auto it = hnsw_->label_lookup_.find(static_cast<hnswlib::labeltype>(labels[i]));
    if (it != hnsw_->label_lookup_.end() && !hnsw_->isMarkedDeleted(it->second) &&
        std::memcmp(space_->floats(hnsw_->getDataByInternalId(it->second)), v, dims_ * sizeof(float)) == 0)
      continue;
    add_locked(labels[i], v);
    ++changed;
  }
  return changed;
}

void VectorIndex::remove(int64_t label) {
  write(label, nullptr, [&] { remove_locked(label); });
}

void VectorIndex::remove_locked(int64_t label) {
  if (hnsw_) {
    auto l = static_cast<hnswlib::labeltype>(label);
    if (!hnsw_->label_lookup_.count(l)) return;
    try {
      hnsw_->markDelete(l);
      if (live_ > 0) --live_;
    } catch (const std::exception&) {
      // already deleted
    }
    return;
  }
  auto it = slot_.find(label);
  if (it == slot_.end()) return;
  size_t i = it->second, last = labels_.size() - 1;
  if (i != last) {
    std::copy(flat_.begin() + static_cast<long>(last * dims_), flat_.begin() + static_cast<long>((last + 1) * dims_),
              flat_.begin() + static_cast<long>(i * dims_));
    labels_[i] = labels_[last];
    slot_[labels_[i]] = i;
  }
  labels_.pop_back();
  flat_.resize(labels_.size() * dims_);
  slot_.erase(label);
}

bool VectorIndex::contains(int64_t label) const {
  std::shared_lock lk(mu_);
  {
    std::lock_guard side(side_mu_);
    if (side_add_.count(label)) return true;
    if (side_del_.count(label)) return false;
  }
  if (!hnsw_) return slot_.count(label) > 0;
  auto it = hnsw_->label_lookup_.find(static_cast<hnswlib::labeltype>(label));
  return it != hnsw_->label_lookup_.end() && !hnsw_->isMarkedDeleted(it->second);
}

std::vector<std::pair<float, int64_t>> VectorIndex::search(const float* q, size_t k) const {
  std::shared_lock lk(mu_);
  // Changes set aside by a running save replace what the index says about their labels.
  std::unordered_map<int64_t, std::vector<float>> added;
  std::unordered_set<int64_t> removed;
  {
    std::lock_guard side(side_mu_);
    if (!side_add_.empty() || !side_del_.empty()) {
      added = side_add_;
      removed = side_del_;
    }
  }
  size_t extra = added.size() + removed.size();
  std::vector<std::pair<float, int64_t>> out;
  if (hnsw_) {
    out = search_hnsw_locked(q, k + extra);
  } else {
    out.reserve(labels_.size());
    for (size_t i = 0; i < labels_.size(); ++i)
      out.emplace_back(simd::dot_f32(q, flat_.data() + i * dims_, dims_), labels_[i]);
  }
  if (extra > 0) {
    std::erase_if(out, [&](const auto& e) { return added.count(e.second) > 0 || removed.count(e.second) > 0; });
    for (const auto& [label, v] : added) out.emplace_back(simd::dot_f32(q, v.data(), dims_), label);
  }
  size_t n = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<long>(n), out.end(), std::greater<>());
  out.resize(n);
  return out;
}

// hnswlib's searchKnn, minus its shared counters, returning every candidate of the base-layer
// search; they are re-scored with the float vectors.
std::vector<std::pair<float, int64_t>> VectorIndex::search_hnsw_locked(const float* q, size_t k) const {
  std::vector<std::pair<float, int64_t>> out;
  auto& h = *hnsw_;
  if (live_ == 0 || h.cur_element_count == 0) return out;
  std::vector<char> query(space_->get_data_size());
  space_->encode(q, query.data());
  auto dist = h.fstdistfunc_;
  auto* param = h.dist_func_param_;
  auto cur = h.enterpoint_node_;
  float cur_d = dist(query.data(), h.getDataByInternalId(cur), param);
  for (int level = h.maxlevel_; level > 0; --level) {
    for (bool changed = true; changed;) {
      changed = false;
      auto* links = reinterpret_cast<unsigned int*>(h.get_linklist(cur, level));
      int n = h.getListCount(links);
      auto* ids = reinterpret_cast<hnswlib::tableint*>(links + 1);
      for (int i = 0; i < n; ++i) {
        float d = dist(query.data(), h.getDataByInternalId(ids[i]), param);
        if (d < cur_d) {
          cur_d = d;
          cur = ids[i];
          changed = true;
        }
      }
    }
  }
  size_t ef = std::max(p_.ef_search, k);
  auto found = h.num_deleted_ ? h.searchBaseLayerST<true, false>(cur, query.data(), ef)
                              : h.searchBaseLayerST<false, false>(cur, query.data(), ef);
  out.reserve(found.size());
  for (; !found.empty(); found.pop()) {
    auto id = found.top().second;
    const char* element = h.getDataByInternalId(id);
    out.emplace_back(simd::dot_f32(q, space_->floats(element), dims_), static_cast<int64_t>(h.getExternalLabel(id)));
  }
  size_t n = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<long>(n), out.end(), std::greater<>());
  out.resize(n);
  return out;
}

namespace {
// Flushes a written file to the disk, so a rename that follows never exposes a partial one.
bool sync_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}
}  // namespace

bool VectorIndex::save(const std::string& path, const std::string& tag) {
  std::lock_guard one(save_mu_);
  {
    std::shared_lock lk(mu_);
    if (!hnsw_) return false;
  }
  uint64_t before = changes_.load();
  {
    std::lock_guard side(side_mu_);
    saving_ = true;
  }
  bool ok = write_file(path, tag);
  {
    std::unique_lock lk(mu_);
    std::lock_guard side(side_mu_);
    for (int64_t label : side_del_) remove_locked(label);
    for (const auto& [label, v] : side_add_) add_locked(label, v.data());
    side_add_.clear();
    side_del_.clear();
    saving_ = false;
  }
  if (ok) changes_ -= before;
  return ok;
}

bool VectorIndex::write_file(const std::string& path, const std::string& tag) const {
  std::shared_lock lk(mu_);
  try {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    hnsw_->saveIndex(path + ".tmp");
    {
      std::ofstream t(path + ".tag.tmp");
      t << kFormat << "\n" << tag << "\n" << dims_ << "\n";
      if (!t.flush()) return false;
    }
    if (!sync_file(path + ".tmp") || !sync_file(path + ".tag.tmp")) return false;
    // The graph first: a crash between the renames leaves a current graph with an older tag,
    // which loads fine (the tag names the layout and width, not the contents).
    return std::rename((path + ".tmp").c_str(), path.c_str()) == 0 &&
           std::rename((path + ".tag.tmp").c_str(), (path + ".tag").c_str()) == 0;
  } catch (const std::exception&) {
    return false;
  }
}

std::unique_ptr<VectorIndex> VectorIndex::load(const std::string& path, size_t dims, Params p, std::string* tag) {
  std::ifstream t(path + ".tag");
  if (!t) return nullptr;
  std::string format;
  size_t saved_dims = 0;
  std::getline(t, format);
  if (format != kFormat) return nullptr;  // an older layout: rebuilt from the store
  std::getline(t, *tag);
  t >> saved_dims;
  if (saved_dims != dims) return nullptr;  // made by another embedder
  auto idx = std::make_unique<VectorIndex>(dims, p);
  try {
    idx->space_ = std::make_unique<QuantizedSpace>(dims);
    idx->hnsw_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(idx->space_.get(), path);
    idx->hnsw_->setEf(p.ef_search);
    // hnswlib's loading constructor leaves num_deleted_ uninitialized before counting into it.
    auto& h = *idx->hnsw_;
    size_t deleted = 0;
    for (size_t i = 0; i < h.cur_element_count; ++i) deleted += h.isMarkedDeleted(static_cast<hnswlib::tableint>(i)) ? 1 : 0;
    h.num_deleted_ = deleted;
    idx->live_ = h.cur_element_count - deleted;
  } catch (const std::exception&) {
    return nullptr;
  }
  return idx;
}

}  // namespace cn::memory
