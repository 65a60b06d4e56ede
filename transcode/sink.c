/* sink.c — the local-directory sink, one-shot helpers over any sink, and the
 * AVIOContext bridge that lets libavformat muxers write into a sink object
 * (see sink.h). */
#include "transcode/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavutil/error.h>
#include <libavutil/mem.h>

#include "common/dirs.h"

#define SINK_COPY_CHUNK (256 * 1024)
#define SINK_AVIO_BUFFER (64 * 1024)

/* ---- the local-directory sink ---- */

typedef struct dir_object {
    int fd;
    char part_path[PATH_MAX];
    char final_path[PATH_MAX];
} dir_object;

static bool name_is_relative_and_inside(const char *name) {
    if (!name[0] || name[0] == '/') return false;
    for (const char *c = name; *c;) {
        size_t len = strcspn(c, "/");
        if (len == 0 || (len == 2 && c[0] == '.' && c[1] == '.') || (len == 1 && c[0] == '.'))
            return false;
        c += len;
        if (*c == '/') c++;
    }
    return true;
}

static void *dir_open(void *ud, const char *name, const char *content_type, mc_err *err) {
    (void)content_type;
    mc_dir_sink *dir = ud;
    if (!name_is_relative_and_inside(name)) {
        mc_err_set(err, MC_ERR_INVALID, "output name '%s' is not a relative path", name);
        return NULL;
    }
    dir_object *o = calloc(1, sizeof *o);
    if (!o) {
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    int n1 = snprintf(o->final_path, sizeof o->final_path, "%s/%s", dir->root, name);
    int n2 = snprintf(o->part_path, sizeof o->part_path, "%s.part", o->final_path);
    if (n1 >= (int)sizeof o->final_path || n2 >= (int)sizeof o->part_path) {
        mc_err_set(err, MC_ERR_INVALID, "output path too long: %s/%s", dir->root, name);
        free(o);
        return NULL;
    }
    if (mc_mkdir_parents(o->part_path, err) != 0) {
        free(o);
        return NULL;
    }
    o->fd = open(o->part_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->fd < 0) {
        mc_err_set(err, MC_ERR_INTERNAL, "open %s: %s", o->part_path, strerror(errno));
        free(o);
        return NULL;
    }
    return o;
}

static int dir_write(void *ud, void *object, const uint8_t *data, size_t len, mc_err *err) {
    (void)ud;
    dir_object *o = object;
    while (len > 0) {
        ssize_t w = write(o->fd, data, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return mc_err_set(err, MC_ERR_INTERNAL, "write %s: %s", o->part_path, strerror(errno));
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

static int dir_close(void *ud, void *object, bool commit, mc_err *err) {
    (void)ud;
    dir_object *o = object;
    int rc = 0;
    if (close(o->fd) != 0 && commit)
        rc = mc_err_set(err, MC_ERR_INTERNAL, "close %s: %s", o->part_path, strerror(errno));
    if (commit && rc == 0 && rename(o->part_path, o->final_path) != 0)
        rc = mc_err_set(err, MC_ERR_INTERNAL, "rename %s: %s", o->part_path, strerror(errno));
    if (!commit || rc != 0) unlink(o->part_path);
    free(o);
    return rc;
}

int mc_dir_sink_init(mc_sink *sink, mc_dir_sink *dir, const char *root, mc_err *err) {
    if (snprintf(dir->root, sizeof dir->root, "%s", root) >= (int)sizeof dir->root)
        return mc_err_set(err, MC_ERR_INVALID, "output directory path too long");
    char probe[PATH_MAX + 2];
    snprintf(probe, sizeof probe, "%s/", dir->root);
    if (mc_mkdir_parents(probe, err) != 0) return -1;
    *sink = (mc_sink){.ud = dir, .open = dir_open, .write = dir_write, .close = dir_close};
    return 0;
}

/* ---- one-shot helpers ---- */

int mc_sink_put(const mc_sink *sink, const char *name, const char *content_type,
                const void *data, size_t len, mc_err *err) {
    void *o = sink->open(sink->ud, name, content_type, err);
    if (!o) return -1;
    if (sink->write(sink->ud, o, data, len, err) != 0) {
        sink->close(sink->ud, o, false, NULL);
        return -1;
    }
    return sink->close(sink->ud, o, true, err);
}

int mc_sink_put_file(const mc_sink *sink, const char *name, const char *content_type,
                     const char *path, const atomic_bool *cancel, uint64_t *bytes, mc_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mc_err_set(err, MC_ERR_INTERNAL, "open %s: %s", path, strerror(errno));
    uint8_t *buf = malloc(SINK_COPY_CHUNK);
    void *o = buf ? sink->open(sink->ud, name, content_type, err) : NULL;
    if (!o) {
        if (!buf) mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        free(buf);
        close(fd);
        return -1;
    }
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        if (cancel && atomic_load(cancel)) {
            rc = mc_err_set(err, MC_ERR_UNAVAILABLE, "transcode cancelled");
            break;
        }
        ssize_t r = read(fd, buf, SINK_COPY_CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = mc_err_set(err, MC_ERR_INTERNAL, "read %s: %s", path, strerror(errno));
        if (r <= 0) break;
        if ((rc = sink->write(sink->ud, o, buf, (size_t)r, err)) != 0) break;
        total += (uint64_t)r;
    }
    free(buf);
    close(fd);
    if (rc != 0) {
        sink->close(sink->ud, o, false, NULL);
        return -1;
    }
    if (bytes) *bytes = total;
    return sink->close(sink->ud, o, true, err);
}

/* ---- AVIOContext over a sink object ---- */

typedef struct avio_object {
    const mc_sink *sink;
    void *object;
    uint64_t bytes;
    bool failed;
    mc_err err;    /* the sink's reason for the first failed write */
} avio_object;

static int avio_object_write(void *opaque, uint8_t *buf, int size) {
    avio_object *a = opaque;
    if (a->failed) return AVERROR(EIO);
    if (a->sink->write(a->sink->ud, a->object, buf, (size_t)size, &a->err) != 0) {
        a->failed = true;
        return AVERROR(EIO);
    }
    a->bytes += (uint64_t)size;
    return size;
}

AVIOContext *mc_sink_avio_open(const mc_sink *sink, const char *name,
                               const char *content_type, mc_err *err) {
    avio_object *a = calloc(1, sizeof *a);
    uint8_t *buf = av_malloc(SINK_AVIO_BUFFER);
    AVIOContext *pb = NULL;
    if (a && buf)
        pb = avio_alloc_context(buf, SINK_AVIO_BUFFER, 1, a, NULL, avio_object_write, NULL);
    if (!pb) {
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        av_free(buf);
        free(a);
        return NULL;
    }
    a->sink = sink;
    a->object = sink->open(sink->ud, name, content_type, err);
    if (!a->object) {
        av_freep(&pb->buffer);
        avio_context_free(&pb);
        free(a);
        return NULL;
    }
    return pb;
}

int mc_sink_avio_close(AVIOContext **pb, bool commit, uint64_t *bytes, mc_err *err) {
    if (!*pb) return 0;
    avio_flush(*pb);
    avio_object *a = (*pb)->opaque;
    int rc = 0;
    if (a->failed) {
        if (commit && err) *err = a->err;
        rc = -1;
    } else if ((*pb)->error < 0 && commit) {
        rc = mc_err_set(err, MC_ERR_INTERNAL, "writing output: %s", av_err2str((*pb)->error));
    }
    if (a->sink->close(a->sink->ud, a->object, commit && rc == 0, rc == 0 ? err : NULL) != 0)
        rc = -1;
    if (bytes) *bytes = a->bytes;
    free(a);
    av_freep(&(*pb)->buffer);
    avio_context_free(pb);
    return rc;
}

const char *mc_sink_content_type(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return "application/octet-stream";
    if (strcmp(dot, ".mp4") == 0) return "video/mp4";
    if (strcmp(dot, ".m4a") == 0) return "audio/mp4";
    if (strcmp(dot, ".m4s") == 0) return "video/iso.segment";
    if (strcmp(dot, ".m3u8") == 0) return "application/vnd.apple.mpegurl";
    if (strcmp(dot, ".jpg") == 0) return "image/jpeg";
    return "application/octet-stream";
}
