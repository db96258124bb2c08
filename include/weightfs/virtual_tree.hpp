// VirtualTree: the namespace the mount shows — directories, virtual files and live status
// files, keyed by inode numbers that are assigned in a deterministic order and never change
// while mounted. Built once at start-up; read concurrently without locks afterwards.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "weightfs/virtual_file.hpp"

namespace wfs {

enum class NodeKind { Directory, File, Status, Models };

struct Node {
    uint64_t ino = 0;
    uint64_t parent = 0;
    std::string name;
    NodeKind kind = NodeKind::Directory;
    std::map<std::string, uint64_t> children;  // directories only, sorted for readdir
    VirtualFilePtr file;                       // File only
    std::string view;                          // top-level view this node belongs to
    std::string next;                          // File only: the sibling a loader reads after it, as its view declared
};

class VirtualTree {
public:
    static constexpr uint64_t kRoot = 1;
    VirtualTree();

    // Creates (or finds) the directory at `path` ("a/b/c", relative to the root).
    uint64_t ensure_dir(const std::string& path, const std::string& view);
    // Adds a node under `dir`; returns 0 when the name is taken.
    uint64_t add(uint64_t dir, const std::string& name, NodeKind kind, VirtualFilePtr file, const std::string& view);
    // Adds a file at `path`, creating parent directories.
    uint64_t add_file(const std::string& path, VirtualFilePtr file, const std::string& view);

    const Node* get(uint64_t ino) const { return ino >= 1 && ino < nodes_.size() ? &nodes_[ino] : nullptr; }
    const Node* lookup(uint64_t dir, const std::string& name) const;
    // The node at `path` ("a/b/c", relative to the root); 0 when there is none.
    uint64_t find(const std::string& path) const;
    std::string path_of(uint64_t ino) const;
    size_t size() const { return nodes_.size() - 1; }

    // Adds every node of `other` (a tree one view built on its own), in its inode order: the
    // same numbers as if that view had built into this tree directly.
    void graft(const VirtualTree& other);

    // Declares that a loader reads the sibling `next_name` after the file at `path` (a layer
    // runner's order: embed, 0, 1, …, head); false when there is no such file.
    bool set_next(const std::string& path, const std::string& next_name);
    // The file a loader opens after `ino`: the one its view declared, else the next of its shard
    // set — "model-00003-of-00032.safetensors" after "model-00002-of-00032.safetensors", beside
    // it; 0 when there is none.
    uint64_t next_file(uint64_t ino) const;

    // Every regular virtual file with its path (for preload and statfs), aliases left out.
    std::vector<std::pair<std::string, VirtualFilePtr>> files() const;

    // Shows every file `which` picks a second time, as a regular file at `under`/<its path>
    // (same VirtualFile, view and declared order): serve=hugetlb's symlinks point there when
    // the pool cannot hold a file, so it is served lazily instead of failing. Called once, after
    // everything else is added: the aliases are the inodes from there on.
    void add_aliases(const std::string& under, const std::function<bool(const VirtualFile&)>& which);
    bool is_alias(uint64_t ino) const { return ino >= alias_start_; }
    // The path of the alias of the file at `path`, relative to that file's directory.
    std::string alias_target(uint64_t ino) const;

private:
    std::vector<Node> nodes_;  // index = ino; [0] unused
    uint64_t alias_start_ = std::numeric_limits<uint64_t>::max();
    std::string alias_dir_;
};

}  // namespace wfs
