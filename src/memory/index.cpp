#include "memory/index.hpp"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <thread>

namespace cn::memory {

namespace {
// Eight independent partial sums: the compiler vectorizes this without -ffast-math, and the
// adds pipeline instead of waiting on one accumulator.
float dot(const float* a, const float* b, size_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (size_t j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0;
  for (; i < n; ++i) s += a[i] * b[i];
  for (float x : acc) s += x;
  return s;
}
}  // namespace

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
  space_ = std::make_unique<hnswlib::InnerProductSpace>(dims_);
  hnsw_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), std::max<size_t>(capacity, 1024), p_.M,
                                                            p_.ef_construction);
  hnsw_->setEf(p_.ef_search);
  for (size_t i = 0; i < labels_.size(); ++i)
    hnsw_->addPoint(flat_.data() + i * dims_, static_cast<hnswlib::labeltype>(labels_[i]));
  live_ = labels_.size();
  flat_.clear();
  flat_.shrink_to_fit();
  labels_.clear();
  slot_.clear();
}

void VectorIndex::add_locked(int64_t label, const float* v) {
  if (hnsw_) {
    auto l = static_cast<hnswlib::labeltype>(label);
    auto found = hnsw_->label_lookup_.find(l);
    if (found != hnsw_->label_lookup_.end()) {
      if (hnsw_->isMarkedDeleted(found->second)) {
        hnsw_->unmarkDelete(l);
        ++live_;
      }
      hnsw_->addPoint(v, l);  // an existing label: hnswlib updates its vector in place
      return;
    }
    if (hnsw_->cur_element_count >= hnsw_->max_elements_) hnsw_->resizeIndex(hnsw_->max_elements_ * 2);
    hnsw_->addPoint(v, l);
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
  if (labels_.size() > p_.hnsw_threshold) to_hnsw_locked(labels_.size() * 2);
}

void VectorIndex::add(int64_t label, const float* v) {
  std::unique_lock lk(mu_);
  add_locked(label, v);
}

void VectorIndex::add_many(const std::vector<int64_t>& labels, const std::vector<float>& flat, int threads) {
  std::unique_lock lk(mu_);
  size_t n = labels.size();
  size_t total = (hnsw_ ? live_ : labels_.size()) + n;
  if (!hnsw_ && total <= p_.hnsw_threshold) {
    for (size_t i = 0; i < n; ++i) add_locked(labels[i], flat.data() + i * dims_);
    return;
  }
  if (!hnsw_) to_hnsw_locked(total + total / 4);
  if (hnsw_->max_elements_ < hnsw_->cur_element_count + n) hnsw_->resizeIndex(hnsw_->cur_element_count + n + n / 4);
  // hnswlib supports concurrent addPoint for distinct labels.
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++)
      hnsw_->addPoint(flat.data() + i * dims_, static_cast<hnswlib::labeltype>(labels[i]));
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  live_ += n;
}

void VectorIndex::remove(int64_t label) {
  std::unique_lock lk(mu_);
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

std::vector<std::pair<float, int64_t>> VectorIndex::search(const float* q, size_t k) const {
  std::shared_lock lk(mu_);
  std::vector<std::pair<float, int64_t>> out;
  if (hnsw_) {
    if (live_ == 0) return out;
    // searchKnn is safe to call concurrently; ef is fixed at construction/load.
    auto pq = hnsw_->searchKnn(q, std::min(k, live_));
    while (!pq.empty()) {
      out.emplace_back(1.f - pq.top().first, static_cast<int64_t>(pq.top().second));
      pq.pop();
    }
    std::reverse(out.begin(), out.end());
    return out;
  }
  out.reserve(labels_.size());
  for (size_t i = 0; i < labels_.size(); ++i) out.emplace_back(dot(q, flat_.data() + i * dims_, dims_), labels_[i]);
  size_t n = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<long>(n), out.end(), std::greater<>());
  out.resize(n);
  return out;
}

bool VectorIndex::save(const std::string& path, const std::string& tag) const {
  std::shared_lock lk(mu_);
  if (!hnsw_) return false;
  try {
    hnsw_->saveIndex(path + ".tmp");
    std::ofstream(path + ".tag.tmp") << tag << "\n" << live_ << "\n";
    std::rename((path + ".tmp").c_str(), path.c_str());
    std::rename((path + ".tag.tmp").c_str(), (path + ".tag").c_str());
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::unique_ptr<VectorIndex> VectorIndex::load(const std::string& path, size_t dims, Params p, std::string* tag) {
  std::ifstream t(path + ".tag");
  if (!t) return nullptr;
  size_t live = 0;
  std::getline(t, *tag);
  t >> live;
  auto idx = std::make_unique<VectorIndex>(dims, p);
  try {
    idx->space_ = std::make_unique<hnswlib::InnerProductSpace>(dims);
    idx->hnsw_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(idx->space_.get(), path);
    idx->hnsw_->setEf(p.ef_search);
    idx->live_ = live;
  } catch (const std::exception&) {
    return nullptr;
  }
  return idx;
}

}  // namespace cn::memory
