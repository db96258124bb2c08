#include "fs/fuse_adapter.hpp"
#include "fs/requester.hpp"

#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <cstring>
#ifdef WEIGHTFS_HAVE_PASSTHROUGH
#include <linux/fuse.h>  // FUSE_DEV_IOC_BACKING_CLOSE
#endif
#include <fstream>
#include <new>

#include <spdlog/spdlog.h>

namespace wfs {

namespace {

// Attributes never change while mounted: let the kernel cache them for a day.
constexpr double kTimeout = 86400.0;
// Directories and control files carry the mount time.
const time_t kMountTime = time(nullptr);

struct Handle {
    std::unique_ptr<OpenFile> file;  // virtual files
    std::string text;                // .weightfs/ snapshots
    int backing_id = 0;              // passthrough
    bool lazy = false;               // counted in AdapterState::lazy_opens
};

#ifdef WEIGHTFS_HAVE_PASSTHROUGH
// One passthrough open of h's file is over (released, or its open reply never reached the
// opener): the last one closes the kernel's backing id and lets the engine evict the
// materialized file when another needs the room.
void end_passthrough(AdapterState& s, const Handle& h) {
    if (h.lazy) {
        std::lock_guard lock(s.backing_mu);
        if (auto it = s.lazy_opens.find(h.file->ino); it != s.lazy_opens.end() && --it->second == 0) s.lazy_opens.erase(it);
        return;
    }
    if (!h.backing_id) return;
    std::lock_guard lock(s.backing_mu);
    auto it = s.backing.find(h.file->ino);
    if (it == s.backing.end() || --it->second.opens > 0) return;
    uint32_t id = static_cast<uint32_t>(it->second.id);
    ioctl(fuse_session_fd(s.session), FUSE_DEV_IOC_BACKING_CLOSE, &id);  // fuse_passthrough_close, no request needed
    if (it->second.held) s.engine->release_backing(*h.file->file);
    s.backing.erase(it);
}

// With backing_mu held: a lazily served open of h's file, counted until its release.
void lazy_open(AdapterState& s, Handle& h) {
    s.lazy_opens[h.file->ino]++;
    h.lazy = true;
}

constexpr const char* kOneIoMode = "open lazily already, and the kernel keeps one io mode per file";

// With backing_mu held: this open shares the file's registered backing (nullptr: it has none).
// While a file has one, the kernel takes no other kind of open of it (EIO), O_DIRECT ones included.
const AdapterState::Passthrough* share_backing(AdapterState& s, uint64_t ino, Handle& h) {
    auto it = s.backing.find(ino);
    if (it == s.backing.end()) return nullptr;
    h.backing_id = it->second.id;
    it->second.opens++;
    return &it->second;
}

// How an open is served once the kernel takes passthrough: sets h.backing_id (the file
// materialized, or its source) and returns how, for status; or returns why it is served lazily. The kernel keeps one io
// mode per inode — a passthrough open while a page-cache open of the file is open, or the
// reverse, fails with EIO — so lazily served opens are counted, and decide later ones (O_DIRECT
// ones too: the kernel applies an open's mode when the opener gets the reply, which can be after
// a later open's). An O_DIRECT open does not start a passthrough to the source, whose filesystem
// would hold it to its alignment rules.
std::string open_passthrough(AdapterState& s, fuse_req_t req, uint64_t ino, Handle& h, bool o_direct) {
    {
        std::lock_guard lock(s.backing_mu);
        if (auto p = share_backing(s, ino, h)) return p->how;
        if (s.lazy_opens.count(ino)) {
            lazy_open(s, h);
            return kOneIoMode;
        }
    }
    // Materializing takes up to seconds: no lock is held meanwhile, so the opens of other
    // files and every release go on.
    auto b = s.engine->backing_for(*h.file, o_direct);
    std::lock_guard lock(s.backing_mu);
    std::string how;  // or why not
    if (auto p = share_backing(s, ino, h)) {  // another open registered it meanwhile
        how = p->how;
    } else if (!b) {
        how = b.error().message;
    } else if (s.lazy_opens.count(ino)) {
        how = kOneIoMode;
    } else if (int id = fuse_passthrough_open(req, b->fd); id > 0) {
        h.backing_id = id;
        s.backing[ino] = {id, 1, b->how, b->held};
        return b->how;
    } else {
        how = "the kernel refused the backing file";
    }
    if (b && b->held) s.engine->release_backing(*h.file->file);  // not registered: not ours to hold
    if (!h.backing_id) lazy_open(s, h);
    return how;
}
#endif

AdapterState& state(fuse_req_t req) { return *static_cast<AdapterState*>(fuse_req_userdata(req)); }

// Runs an op body; any escaping exception becomes exactly one error reply.
template <class F>
void guarded(fuse_req_t req, const char* op, F&& body) {
    try {
        body();
    } catch (const std::bad_alloc&) {
        spdlog::error("{}: out of memory", op);
        fuse_reply_err(req, ENOMEM);
    } catch (const std::exception& e) {
        spdlog::error("{}: {}", op, e.what());
        fuse_reply_err(req, EIO);
    } catch (...) {
        spdlog::error("{}: unknown exception", op);
        fuse_reply_err(req, EIO);
    }
}

std::string control_text(AdapterState& s, const Node& n) {
    return n.kind == NodeKind::Status ? s.engine->status_text() : s.engine->models_text();
}

void fill_attr(AdapterState& s, const Node& n, struct stat& st) {
    std::memset(&st, 0, sizeof st);
    st.st_ino = n.ino;
    st.st_uid = s.config.uid;
    st.st_gid = s.config.gid;
    st.st_blksize = static_cast<blksize_t>(s.engine->config().chunk_size);
    st.st_mtim.tv_sec = st.st_ctim.tv_sec = st.st_atim.tv_sec = kMountTime;
    switch (n.kind) {
        case NodeKind::Directory:
            st.st_mode = S_IFDIR | 0555;
            st.st_nlink = 2;
            break;
        case NodeKind::File:
            st.st_nlink = 1;
            st.st_mtim.tv_sec = st.st_ctim.tv_sec = st.st_atim.tv_sec = n.file->mtime();
            if (s.engine->symlinked(n)) {  // serve=hugetlb
                st.st_mode = S_IFLNK | 0777;
                st.st_size = static_cast<off_t>(s.engine->symlink_size(n));
                break;
            }
            st.st_mode = S_IFREG | (n.file->mode() & 0555);
            st.st_size = static_cast<off_t>(n.file->size());
            break;
        case NodeKind::Status:
        case NodeKind::Models:
            st.st_mode = S_IFREG | 0444;
            st.st_nlink = 1;
            st.st_size = static_cast<off_t>(control_text(s, n).size());
            break;
    }
    st.st_blocks = (st.st_size + 511) / 512;
}

// Views never change while mounted, so the kernel may keep their attributes; not those of the
// status files (their length changes) or of a serve=hugetlb link, whose st_size is the length of
// its target: the alias until the file is made, the hugetlbfs path after, the alias again once
// it is evicted. A stat of a link costs one round trip; an `ls -l` then shows the right length.
double attr_timeout(AdapterState& s, const Node& n) {
    return n.kind == NodeKind::Status || s.engine->symlinked(n) ? 0.0 : kTimeout;
}

// Sequential page-cache readers arrive in requests as large as the bdi's readahead (128 KiB by
// default): raise it to the chunk size so they come in max_pages-sized (1 MiB) requests.
void raise_readahead(AdapterState& s) {
    if (s.readahead_path.empty()) return;
    std::ofstream out(s.readahead_path);
    out << s.readahead_kb;
    out.flush();
    if (!out) spdlog::warn("could not raise {} (not root?): page-cache reads stay at 128 KiB requests", s.readahead_path);
}

void op_init(void* userdata, fuse_conn_info* conn) {
    auto* s = static_cast<AdapterState*>(userdata);
#ifdef WEIGHTFS_HAVE_PASSTHROUGH
    if (s->engine->passthrough_wanted()) {
        s->passthrough = fuse_set_feature_flag(conn, FUSE_CAP_PASSTHROUGH);
        if (!s->passthrough) spdlog::warn("the kernel does not offer FUSE passthrough: serving lazily");
    }
#endif
    // Replies come from cache memory with fuse_reply_iov; splice measured 3-5x slower here.
    conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
    if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
    if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
    // Now that it is known whether the kernel takes passthrough opens: preload materializes
    // backing files only when they will be used.
    s->engine->preload(s->passthrough);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    guarded(req, "lookup", [&] {
        AdapterState& s = state(req);
        const Node* n = s.engine->tree().lookup(parent, name);
        if (!n) return (void)fuse_reply_err(req, ENOENT);
        fuse_entry_param e{};
        e.ino = n->ino;
        e.generation = 1;
        e.entry_timeout = n->kind == NodeKind::Status ? 0.0 : kTimeout;
        e.attr_timeout = attr_timeout(s, *n);
        fill_attr(s, *n, e.attr);
        fuse_reply_entry(req, &e);
    });
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    guarded(req, "getattr", [&] {
        AdapterState& s = state(req);
        const Node* n = s.engine->tree().get(ino);
        if (!n) return (void)fuse_reply_err(req, ENOENT);
        struct stat st;
        fill_attr(s, *n, st);
        fuse_reply_attr(req, &st, attr_timeout(s, *n));
    });
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    guarded(req, "readdir", [&] {
        AdapterState& s = state(req);
        const Node* d = s.engine->tree().get(ino);
        if (!d) return (void)fuse_reply_err(req, ENOENT);
        if (d->kind != NodeKind::Directory) return (void)fuse_reply_err(req, ENOTDIR);
        std::vector<char> buf(size);
        size_t used = 0;
        // Entry i: 0 ".", 1 "..", then children in name order; `off` is the next entry's index.
        std::vector<std::pair<std::string, uint64_t>> entries{{".", d->ino}, {"..", d->parent}};
        for (auto& [name, child] : d->children) entries.push_back({name, child});
        for (size_t i = static_cast<size_t>(off); i < entries.size(); ++i) {
            struct stat st {};
            const Node* n = s.engine->tree().get(entries[i].second);
            st.st_ino = entries[i].second;
            st.st_mode = n && n->kind == NodeKind::Directory ? S_IFDIR : n && s.engine->symlinked(*n) ? S_IFLNK : S_IFREG;
            size_t need = fuse_add_direntry(req, buf.data() + used, size - used, entries[i].first.c_str(), &st,
                                            static_cast<off_t>(i + 1));
            if (need > size - used) break;
            used += need;
        }
        fuse_reply_buf(req, buf.data(), used);
    });
}

// serve=hugetlb: an open through the link materializes the file into hugetlbfs (once); a stat
// or `ls -l` does not (`ls -l` of a model directory would otherwise convert every file in it),
// and an O_DIRECT open, which hugetlbfs refuses, is led to the lazily served alias.
void op_readlink(fuse_req_t req, fuse_ino_t ino) {
    guarded(req, "readlink", [&] {
        using Link = Engine::Link;
        const PathUse use = path_use(fuse_req_ctx(req)->pid);
        const Link how = use == PathUse::OpenDirect ? Link::Lazy : use == PathUse::Other ? Link::AsIs : Link::Materialize;
        auto target = state(req).engine->symlink_target(ino, how);
        if (!target) return (void)fuse_reply_err(req, target.error().code == EINVAL ? EINVAL : EIO);
        fuse_reply_readlink(req, target->c_str());
    });
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, "open", [&] {
        AdapterState& s = state(req);
        if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) return (void)fuse_reply_err(req, EROFS);
        std::call_once(s.readahead_once, [&] { raise_readahead(s); });
        const Node* n = s.engine->tree().get(ino);
        if (!n) return (void)fuse_reply_err(req, ENOENT);
        if (n->kind == NodeKind::Directory) return (void)fuse_reply_err(req, EISDIR);
        if (n->kind == NodeKind::File && !s.engine->check_sources(ino).ok()) return (void)fuse_reply_err(req, EIO);
        auto h = std::make_unique<Handle>();
        if (n->kind == NodeKind::File) {
            h->file = s.engine->open(ino);
            fi->keep_cache = 1;  // content never changes while mounted
            fi->direct_io = s.config.direct_io;
#ifdef WEIGHTFS_HAVE_PASSTHROUGH
            if (s.passthrough && h->file->file->size() > 0) {
                const bool o_direct = (fi->flags & O_DIRECT) != 0;
                const std::string how = open_passthrough(s, req, ino, *h, o_direct);  // or why not
                if (h->backing_id) {
                    fi->backing_id = h->backing_id;
                    fi->keep_cache = 0;  // never together with passthrough (the kernel answers EIO)
                    fi->direct_io = 0;
                    s.engine->set_served(*h->file, how);
                } else {
                    if (o_direct) fi->direct_io = 1;  // no page cache, as asked
                    s.engine->set_served(*h->file, "lazy: " + how);
                    spdlog::warn("{}: passthrough not possible ({}); serving lazily", s.engine->tree().path_of(ino), how);
                }
            }
#endif
        } else {
            h->text = control_text(s, *n);  // a consistent snapshot per open
            fi->direct_io = 1;
        }
        // Registered before the reply: once the reply is out, RELEASE may arrive on another thread.
        Handle* raw = h.release();
        fi->fh = reinterpret_cast<uint64_t>(raw);
        {
            std::lock_guard lock(s.handles_mu);
            s.handles.insert(raw);
        }
        if (fuse_reply_open(req, fi) != 0) {  // the opener was interrupted: no release will come
            {
                std::lock_guard lock(s.handles_mu);
                s.handles.erase(raw);
            }
            std::unique_ptr<Handle> back(raw);
#ifdef WEIGHTFS_HAVE_PASSTHROUGH
            end_passthrough(s, *back);
#endif
            if (back->file) s.engine->close(*back->file);
        }
    });
}

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    guarded(req, "read", [&] {
        auto* h = reinterpret_cast<Handle*>(fi->fh);
        if (!h->file) {
            // Replied from a copy: once the kernel has the bytes the reader may close, and the
            // RELEASE (on another thread) frees the handle while this writev is still returning.
            size_t start = std::min<size_t>(static_cast<size_t>(off), h->text.size());
            const std::string part = h->text.substr(start, std::min(size, h->text.size() - start));
            return (void)fuse_reply_buf(req, part.data(), part.size());
        }
        AdapterState& s = state(req);
        Engine& engine = *s.engine;
        auto reply = engine.read(*h->file, static_cast<uint64_t>(off), size);
        if (!reply) return (void)fuse_reply_err(req, reply.error().code);
        if (reply->iov.empty()) return (void)fuse_reply_buf(req, nullptr, 0);
        // The iov points into pinned cache chunks or mapped source pages; the pins drop after the
        // kernel has copied them. From the reply on, `h` may be freed (the reader closed and a
        // RELEASE ran on another thread): after_reply() uses only the reply.
        int sent = fuse_reply_iov(req, reply->iov.data(), static_cast<int>(reply->iov.size()));
        if (engine.after_reply(*reply, sent)) {
            // A source changed while the kernel copied from it: drop what the kernel cached of
            // this file, so later reads come here and get EIO. This thread holds no page lock
            // (its reply is done), and only the one read that saw the change does this.
            fuse_lowlevel_notify_inval_inode(s.session, reply->ino, 0, 0);
        }
    });
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    guarded(req, "release", [&] {
        std::unique_ptr<Handle> h(reinterpret_cast<Handle*>(fi->fh));
        AdapterState& s = state(req);
        {
            std::lock_guard lock(s.handles_mu);
            s.handles.erase(h.get());
        }
#ifdef WEIGHTFS_HAVE_PASSTHROUGH
        end_passthrough(s, *h);
#endif
        if (h->file) s.engine->close(*h->file);
        fuse_reply_err(req, 0);
    });
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
    guarded(req, "statfs", [&] {
        AdapterState& s = state(req);
        struct statvfs sv {};
        uint64_t bsize = s.engine->config().chunk_size, total = 0;
        for (auto& [path, file] : s.engine->tree().files()) total += file->size();
        sv.f_bsize = sv.f_frsize = bsize;
        sv.f_blocks = (total + bsize - 1) / bsize;
        sv.f_files = s.engine->tree().size();
        sv.f_namemax = 255;
        sv.f_flag = ST_RDONLY;
        fuse_reply_statfs(req, &sv);
    });
}

// xattrs: user.weightfs.source (source paths, one per line) and user.weightfs.view.
std::vector<std::pair<std::string, std::string>> xattrs_of(AdapterState& s, const Node& n) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!n.view.empty()) out.push_back({"user.weightfs.view", n.view});
    if (n.kind == NodeKind::File) {
        std::string src;
        for (const auto& rel : n.file->sources())
            src += (src.empty() ? "" : "\n") + s.engine->config().source + "/" + rel;
        out.push_back({"user.weightfs.source", src});
    }
    return out;
}

void reply_xattr(fuse_req_t req, const std::string& value, size_t size) {
    if (size == 0) return (void)fuse_reply_xattr(req, value.size());
    if (size < value.size()) return (void)fuse_reply_err(req, ERANGE);
    fuse_reply_buf(req, value.data(), value.size());
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    guarded(req, "getxattr", [&] {
        AdapterState& s = state(req);
        const Node* n = s.engine->tree().get(ino);
        if (!n) return (void)fuse_reply_err(req, ENOENT);
        for (auto& [k, v] : xattrs_of(s, *n))
            if (k == name) return reply_xattr(req, v, size);
        fuse_reply_err(req, ENODATA);
    });
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    guarded(req, "listxattr", [&] {
        AdapterState& s = state(req);
        const Node* n = s.engine->tree().get(ino);
        if (!n) return (void)fuse_reply_err(req, ENOENT);
        std::string names;
        for (auto& [k, v] : xattrs_of(s, *n)) names += k + '\0';
        reply_xattr(req, names, size);
    });
}

// Every request that would change anything: the filesystem is read-only.
void erofs(fuse_req_t req) { fuse_reply_err(req, EROFS); }
void op_setattr(fuse_req_t req, fuse_ino_t, struct stat*, int, fuse_file_info*) { erofs(req); }
void op_mknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) { erofs(req); }
void op_mkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { erofs(req); }
void op_unlink(fuse_req_t req, fuse_ino_t, const char*) { erofs(req); }
void op_symlink(fuse_req_t req, const char*, fuse_ino_t, const char*) { erofs(req); }
void op_rename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned) { erofs(req); }
void op_link(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { erofs(req); }
void op_write(fuse_req_t req, fuse_ino_t, const char*, size_t, off_t, fuse_file_info*) { erofs(req); }
void op_create(fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) { erofs(req); }
void op_setxattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) { erofs(req); }
void op_removexattr(fuse_req_t req, fuse_ino_t, const char*) { erofs(req); }
void op_fallocate(fuse_req_t req, fuse_ino_t, int, off_t, off_t, fuse_file_info*) { erofs(req); }

fuse_lowlevel_ops make_ops() {
    fuse_lowlevel_ops ops{};
    ops.init = op_init;
    ops.lookup = op_lookup;
    ops.getattr = op_getattr;
    ops.readdir = op_readdir;
    ops.open = op_open;
    ops.readlink = op_readlink;
    ops.read = op_read;
    ops.release = op_release;
    ops.statfs = op_statfs;
    ops.getxattr = op_getxattr;
    ops.listxattr = op_listxattr;
    ops.setattr = op_setattr;
    ops.mknod = op_mknod;
    ops.mkdir = op_mkdir;
    ops.unlink = op_unlink;
    ops.rmdir = op_unlink;
    ops.symlink = op_symlink;
    ops.rename = op_rename;
    ops.link = op_link;
    ops.write = op_write;
    ops.create = op_create;
    ops.setxattr = op_setxattr;
    ops.removexattr = op_removexattr;
    ops.fallocate = op_fallocate;
    return ops;
}

}  // namespace

void release_open_handles(AdapterState& state) {
    std::lock_guard lock(state.handles_mu);
    for (void* p : state.handles) {
        std::unique_ptr<Handle> h(static_cast<Handle*>(p));
        if (h->file) state.engine->close(*h->file);
    }
    state.handles.clear();
}

const fuse_lowlevel_ops& fuse_ops() {
    static const fuse_lowlevel_ops ops = make_ops();
    return ops;
}

}  // namespace wfs
