// A vector index over one memory namespace: exact (a flat scan) while small, HNSW (hnswlib)
// past a threshold. Vectors are L2-normalized; similarity is the inner product. The HNSW graph
// is walked on 8-bit quantized vectors and its candidates re-scored on the floats.
//
// Thread-safety: search() may run concurrently with itself; add()/remove() take the write lock.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace hnswlib {
template <typename T>
class HierarchicalNSW;
}  // namespace hnswlib

namespace cn::memory {

class QuantizedSpace;

class VectorIndex {
 public:
  struct Params {
    // Exact search up to this many 256-d vectors, HNSW past it. Wider vectors switch sooner,
    // in proportion (an exact scan costs vectors x dimensions): 13k at 384-d, 3.3k at 1536-d.
    size_t hnsw_threshold = 20'000;
    size_t M = 16;
    size_t ef_construction = 200;
    size_t ef_search = 200;
    // Whether add() converts an exact index to HNSW once past the threshold (a build of all its
    // vectors, inside that call). add_many() always builds HNSW past the threshold.
    bool grow_into_hnsw = true;
    size_t threshold_for(size_t dims) const {
      return dims <= 256 ? hnsw_threshold : std::max<size_t>(1, hnsw_threshold / dims * 256 + hnsw_threshold % dims * 256 / dims);
    }
  };
  VectorIndex(size_t dims, Params p);
  explicit VectorIndex(size_t dims) : VectorIndex(dims, Params{}) {}
  ~VectorIndex();

  // Inserts or replaces the vector of `label`. `v` has dims() floats.
  void add(int64_t label, const float* v);
  // Adds many at once, using `threads` threads (for start-up builds and benchmarks). Stops
  // early, leaving the index incomplete, when `cancel` becomes true.
  void add_many(const std::vector<int64_t>& labels, const std::vector<float>& flat, int threads,
                const std::atomic<bool>* cancel = nullptr);
  // Makes the index hold exactly `labels` with the vectors in `flat`: adds what is missing,
  // replaces vectors that changed, removes the rest. Returns how many labels it changed. Used to
  // bring an index saved earlier up to date with the store.
  size_t sync(const std::vector<int64_t>& labels, const std::vector<float>& flat);
  void remove(int64_t label);
  // Whether `label` is in the index (and not removed).
  bool contains(int64_t label) const;
  // The `k` most similar labels, most similar first: (similarity, label).
  std::vector<std::pair<float, int64_t>> search(const float* q, size_t k) const;

  // Changes the HNSW search breadth (recall against latency). Not thread-safe with search().
  void set_ef(size_t ef);
  size_t size() const;
  size_t dims() const { return dims_; }
  bool is_hnsw() const { return hnsw_ != nullptr; }
  // Approximate memory used by vectors and graph, in bytes.
  size_t memory_bytes() const;

  // Saves an HNSW index (exact ones are rebuilt from the store instead). `tag` is written with
  // it and returned by load(). Writers never wait for the disk: changes made while the file is
  // written are set aside, seen by search() and contains(), and applied when the save ends.
  bool save(const std::string& path, const std::string& tag);
  // Adds and removals since the last successful save.
  uint64_t changes_since_save() const { return changes_.load(); }
  static std::unique_ptr<VectorIndex> load(const std::string& path, size_t dims, Params p,
                                           std::string* tag);

 private:
  void to_hnsw_locked(size_t capacity);
  void add_locked(int64_t label, const float* v);
  void remove_locked(int64_t label);
  bool write_file(const std::string& path, const std::string& tag) const;
  // Keeps a change aside while a save runs; false when none runs. `v` null = a removal.
  bool set_aside(int64_t label, const float* v);
  // Runs `change` under the write lock, or sets it aside if a save holds the index.
  template <typename Change>
  void write(int64_t label, const float* v, Change change);
  std::vector<std::pair<float, int64_t>> search_hnsw_locked(const float* q, size_t k) const;

  size_t dims_;
  Params p_;
  mutable std::shared_timed_mutex mu_;
  // Changes that arrived while save() held mu_ (shared) for its file. Lock order: mu_, side_mu_.
  mutable std::mutex side_mu_;
  bool saving_ = false;                                       // guarded by side_mu_
  std::unordered_map<int64_t, std::vector<float>> side_add_;  // guarded by side_mu_
  std::unordered_set<int64_t> side_del_;                      // guarded by side_mu_
  std::mutex save_mu_;                                        // one save at a time
  std::atomic<uint64_t> changes_{0};
  // Exact mode.
  std::vector<float> flat_;                       // guarded by mu_
  std::vector<int64_t> labels_;                   // guarded by mu_
  std::unordered_map<int64_t, size_t> slot_;      // guarded by mu_
  // HNSW mode.
  std::unique_ptr<QuantizedSpace> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw_;  // guarded by mu_
  size_t live_ = 0;                                        // guarded by mu_
};

}  // namespace cn::memory
