#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "memory/index.hpp"
#include "memory/simd.hpp"
#include "model/embed.hpp"

namespace cn::memory {
namespace {

std::vector<float> unit(std::mt19937& rng, size_t dims, const std::vector<float>* center = nullptr) {
  std::normal_distribution<float> n(0, 1);
  std::vector<float> v(dims);
  float norm = 0;
  for (size_t i = 0; i < dims; ++i) {
    v[i] = n(rng) + (center ? 3 * (*center)[i] : 0);
    norm += v[i] * v[i];
  }
  for (auto& x : v) x /= std::sqrt(norm);
  return v;
}

TEST(LocalEmbed, NormalizedDeterministicAndLexical) {
  auto a = model::local_embed("The user is allergic to peanuts.");
  auto b = model::local_embed("The user is allergic to peanuts.");
  auto c = model::local_embed("peanut allergy: the user is allergic");
  auto d = model::local_embed("Quarterly revenue grew in Norway.");
  ASSERT_EQ(a.size(), model::kLocalDims);
  EXPECT_EQ(a, b);
  auto dot = [](const std::vector<float>& x, const std::vector<float>& y) {
    float s = 0;
    for (size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
    return s;
  };
  EXPECT_NEAR(dot(a, a), 1.0f, 1e-4);
  EXPECT_GT(dot(a, c), dot(a, d) + 0.2f);
}

TEST(Simd, KernelsAgreeWithPlainLoops) {
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0, 1);
  for (size_t n : {1, 7, 16, 33, 256, 384, 1536}) {
    std::vector<float> a(n), b(n);
    double want = 0;
    for (size_t i = 0; i < n; ++i) {
      a[i] = g(rng);
      b[i] = g(rng);
      want += static_cast<double>(a[i]) * b[i];
    }
    EXPECT_NEAR(simd::dot_f32(a.data(), b.data(), n), want, 1e-4 * (1 + std::fabs(want))) << "n=" << n;
  }
  std::uniform_int_distribution<int> byte(-127, 127);
  for (size_t n : {32, 64, 384}) {
    std::vector<int8_t> a(n), b(n);
    int32_t want = 0;
    for (size_t i = 0; i < n; ++i) {
      a[i] = static_cast<int8_t>(byte(rng));
      b[i] = static_cast<int8_t>(byte(rng));
      want += int32_t{a[i]} * int32_t{b[i]};
    }
    EXPECT_EQ(simd::dot_i8(a.data(), b.data(), n), want) << "n=" << n;
  }
  // Extremes do not overflow the 16-bit products' pairwise sums.
  std::vector<int8_t> hi(64, 127), lo(64, -127);
  EXPECT_EQ(simd::dot_i8(hi.data(), lo.data(), 64), -127 * 127 * 64);
}

TEST(VectorIndex, WiderVectorsSwitchToHnswSooner) {
  VectorIndex::Params p;
  EXPECT_EQ(p.threshold_for(256), 20'000u);
  EXPECT_EQ(p.threshold_for(32), 20'000u);
  EXPECT_EQ(p.threshold_for(384), 13'333u);
  EXPECT_EQ(p.threshold_for(1536), 3'333u);
  p.hnsw_threshold = 100;
  constexpr size_t kDims = 512;  // switches past 50
  std::mt19937 rng(5);
  VectorIndex idx(kDims, p);
  for (int64_t i = 1; i <= 50; ++i) idx.add(i, unit(rng, kDims).data());
  EXPECT_FALSE(idx.is_hnsw());
  idx.add(51, unit(rng, kDims).data());
  EXPECT_TRUE(idx.is_hnsw());
  EXPECT_EQ(idx.size(), 51u);
}

TEST(VectorIndex, ExactAddReplaceRemove) {
  VectorIndex idx(4);
  float x[4] = {1, 0, 0, 0}, y[4] = {0, 1, 0, 0};
  idx.add(1, x);
  idx.add(2, y);
  auto r = idx.search(x, 2);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].second, 1);
  idx.add(2, x);  // replace
  r = idx.search(x, 2);
  EXPECT_NEAR(r[1].first, 1.0f, 1e-6);
  idx.remove(1);
  EXPECT_EQ(idx.size(), 1u);
  r = idx.search(x, 5);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].second, 2);
}

TEST(VectorIndex, HnswAgreesWithExactAndSurvivesSaveLoad) {
  constexpr size_t kDims = 32, kN = 6000;
  std::mt19937 rng(7);
  std::vector<std::vector<float>> centers;
  for (int c = 0; c < 50; ++c) centers.push_back(unit(rng, kDims));
  std::vector<int64_t> labels;
  std::vector<float> flat;
  for (size_t i = 0; i < kN; ++i) {
    auto v = unit(rng, kDims, &centers[i % centers.size()]);
    labels.push_back(static_cast<int64_t>(i + 1));
    flat.insert(flat.end(), v.begin(), v.end());
  }
  VectorIndex::Params p;
  p.hnsw_threshold = 1000;
  VectorIndex hnsw(kDims, p);
  hnsw.add_many(labels, flat, 2);
  ASSERT_TRUE(hnsw.is_hnsw());
  VectorIndex::Params e;
  e.hnsw_threshold = SIZE_MAX;
  VectorIndex exact(kDims, e);
  exact.add_many(labels, flat, 1);
  double recall = 0;
  constexpr int kQueries = 100;
  for (int q = 0; q < kQueries; ++q) {
    auto qv = unit(rng, kDims, &centers[static_cast<size_t>(q) % centers.size()]);
    auto a = hnsw.search(qv.data(), 10), b = exact.search(qv.data(), 10);
    size_t hit = 0;
    for (auto& [s, l] : a) hit += s >= b.back().first - 1e-5f ? 1 : 0;
    recall += static_cast<double>(hit) / 10.0;
  }
  EXPECT_GT(recall / kQueries, 0.9);

  // The graph is walked on 8-bit vectors, but results carry the exact float similarity.
  auto q0 = unit(rng, kDims, &centers[0]);
  for (const auto& [sim, label] : hnsw.search(q0.data(), 5)) {
    const float* v = flat.data() + static_cast<size_t>(label - 1) * kDims;
    float want = 0;
    for (size_t i = 0; i < kDims; ++i) want += q0[i] * v[i];
    EXPECT_NEAR(sim, want, 1e-5f);
  }
  EXPECT_TRUE(hnsw.contains(2));
  EXPECT_FALSE(hnsw.contains(static_cast<int64_t>(kN + 1)));

  // Removed labels are not returned.
  auto qv = std::vector<float>(flat.begin(), flat.begin() + kDims);
  EXPECT_EQ(hnsw.search(qv.data(), 1)[0].second, 1);
  hnsw.remove(1);
  EXPECT_NE(hnsw.search(qv.data(), 1)[0].second, 1);
  EXPECT_FALSE(hnsw.contains(1));

  auto path = (std::filesystem::temp_directory_path() / ("cn_idx_" + std::to_string(::getpid()))).string();
  ASSERT_TRUE(hnsw.save(path, "tag-1"));
  std::string tag;
  auto loaded = VectorIndex::load(path, kDims, p, &tag);
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(tag, "tag-1");
  EXPECT_EQ(loaded->size(), kN - 1);
  EXPECT_NE(loaded->search(qv.data(), 1)[0].second, 1);
  EXPECT_FALSE(loaded->contains(1));

  // sync() makes a saved index match the store again: label 1 is back, 2 is gone, 3 changed.
  std::vector<int64_t> now_labels;
  std::vector<float> now_flat;
  for (size_t i = 0; i < kN; ++i) {
    if (i == 1) continue;  // label 2
    now_labels.push_back(static_cast<int64_t>(i + 1));
    now_flat.insert(now_flat.end(), flat.begin() + static_cast<long>(i * kDims), flat.begin() + static_cast<long>((i + 1) * kDims));
  }
  auto moved = unit(rng, kDims);
  std::copy(moved.begin(), moved.end(), now_flat.begin() + 1 * kDims);  // label 3's new vector
  EXPECT_EQ(loaded->sync(now_labels, now_flat), 3u);
  EXPECT_TRUE(loaded->contains(1));
  EXPECT_FALSE(loaded->contains(2));
  EXPECT_EQ(loaded->size(), kN - 1);
  EXPECT_EQ(loaded->search(moved.data(), 1)[0].second, 3);
  EXPECT_EQ(loaded->sync(now_labels, now_flat), 0u);

  // Nor one made for vectors of another width.
  EXPECT_EQ(VectorIndex::load(path, kDims * 2, p, &tag), nullptr);
  // A file in an older layout is not loaded (the caller rebuilds from the store).
  std::ofstream(path + ".tag") << "tag-1\n" << kN - 1 << "\n";
  EXPECT_EQ(VectorIndex::load(path, kDims, p, &tag), nullptr);
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".tag");
}

TEST(VectorIndex, WritesDuringASaveAreSeenAtOnceAndKept) {
  constexpr size_t kDims = 128, kN = 30000;
  std::mt19937 rng(11);
  std::vector<int64_t> labels;
  std::vector<float> flat;
  for (size_t i = 0; i < kN; ++i) {
    auto v = unit(rng, kDims);
    labels.push_back(static_cast<int64_t>(i + 1));
    flat.insert(flat.end(), v.begin(), v.end());
  }
  VectorIndex::Params p;
  p.hnsw_threshold = 1000;
  p.ef_construction = 40;
  VectorIndex idx(kDims, p);
  idx.add_many(labels, flat, 2);
  ASSERT_TRUE(idx.is_hnsw());
  auto path = (std::filesystem::temp_directory_path() / ("cn_idx_save_" + std::to_string(::getpid()))).string();
  std::atomic<bool> saved{false};
  std::thread saver([&] {
    EXPECT_TRUE(idx.save(path, "t"));
    saved = true;
  });
  // Writes while the file is being written: none waits for it, each is visible at once.
  std::vector<std::vector<float>> fresh;
  int during = 0;
  for (int i = 0; i < 200; ++i) {
    fresh.push_back(unit(rng, kDims));
    int64_t label = static_cast<int64_t>(kN + 1 + static_cast<size_t>(i));
    idx.add(label, fresh.back().data());
    idx.remove(static_cast<int64_t>(i + 1));
    during += saved ? 0 : 1;
    auto top = idx.search(fresh.back().data(), 1);
    ASSERT_EQ(top.size(), 1u);
    EXPECT_EQ(top[0].second, label);
    EXPECT_TRUE(idx.contains(label));
    EXPECT_FALSE(idx.contains(static_cast<int64_t>(i + 1)));
  }
  saver.join();
  RecordProperty("writes_during_save", during);
  // After the save they are in the index itself. HNSW search is approximate (random 128-d
  // vectors, ef_construction 40): the exact vector is among the first ten, not always first.
  for (size_t i = 0; i < fresh.size(); ++i) {
    const auto label = static_cast<int64_t>(kN + 1 + i);
    auto top = idx.search(fresh[i].data(), 10);
    EXPECT_TRUE(std::any_of(top.begin(), top.end(), [&](const auto& h) { return h.second == label; })) << "label " << label;
    EXPECT_TRUE(idx.contains(label));
    EXPECT_FALSE(idx.contains(static_cast<int64_t>(i + 1)));
  }
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".tag");
}

}  // namespace
}  // namespace cn::memory
