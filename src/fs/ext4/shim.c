/*
 * A small C layer over the system libext2fs (e2fsprogs), so that the Rust side needs no
 * struct layouts from its headers: every function takes an opaque ext2_filsys and plain
 * integers, and returns a libext2fs errcode_t (0 on success) as a long.
 *
 * Removal follows fuse2fs (remove_inode / op_rmdir in misc/fuse2fs.c of e2fsprogs 1.47):
 * unlink the name, drop the link count, and when it reaches zero free the xattr block, punch
 * the data blocks (or inline data), set dtime and release the inode in the bitmaps.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <et/com_err.h>
#include <ext2fs/ext2fs.h>

/* Exported by libext2fs since 1.43 (ext2fs_file_write uses it) but declared only in the
 * private ext2fsP.h. */
errcode_t ext2fs_inline_data_expand(ext2_filsys fs, ext2_ino_t ino);

/* Kind codes shared with ffi.rs. */
#define CS_KIND_UNKNOWN 0
#define CS_KIND_FILE 1
#define CS_KIND_DIR 2
#define CS_KIND_SYMLINK 3
#define CS_KIND_OTHER 4

struct cs_super {
	uint64_t blocks_count;
	uint64_t free_blocks;
	uint32_t block_size;
	uint32_t first_data_block;
	uint32_t feature_compat;
	uint32_t feature_incompat;
	uint32_t feature_ro_compat;
	uint32_t state;
	uint32_t inodes_count;
	uint32_t free_inodes;
};

struct cs_stat {
	uint64_t size;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t links;
	uint32_t flags;
};

typedef int (*cs_dir_cb)(void *ctx, const char *name, int name_len, uint32_t ino, int kind);

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void init_tables(void)
{
	initialize_ext2_error_table();
}

const char *cs_strerror(long code)
{
	pthread_once(&tables_once, init_tables);
	return error_message((errcode_t)code);
}

/* 1: no such file, 2: a path component is not a directory, 0: anything else. */
int cs_classify(long code)
{
	if (code == EXT2_ET_FILE_NOT_FOUND || code == ENOENT)
		return 1;
	if (code == EXT2_ET_NO_DIRECTORY || code == ENOTDIR)
		return 2;
	return 0;
}

static time_t cs_now(ext2_filsys fs)
{
	return fs->now ? fs->now : time(0);
}

long cs_open(const char *path, uint64_t offset, int writable, ext2_filsys *out)
{
	char opts[64];
	ext2_filsys fs = NULL;
	errcode_t err;
	int flags = EXT2_FLAG_64BITS | (writable ? EXT2_FLAG_RW : 0);

	*out = NULL;
	pthread_once(&tables_once, init_tables);
	snprintf(opts, sizeof(opts), "offset=%llu", (unsigned long long)offset);
	err = ext2fs_open2(path, opts, flags, 0, 0, unix_io_manager, &fs);
	if (err)
		return err;
	err = ext2fs_read_bitmaps(fs);
	if (err) {
		ext2fs_free(fs);
		return err;
	}
	*out = fs;
	return 0;
}

void cs_super_info(ext2_filsys fs, struct cs_super *s)
{
	s->blocks_count = ext2fs_blocks_count(fs->super);
	s->free_blocks = ext2fs_free_blocks_count(fs->super);
	s->block_size = fs->blocksize;
	s->first_data_block = fs->super->s_first_data_block;
	s->feature_compat = fs->super->s_feature_compat;
	s->feature_incompat = fs->super->s_feature_incompat;
	s->feature_ro_compat = fs->super->s_feature_ro_compat;
	s->state = fs->super->s_state;
	s->inodes_count = fs->super->s_inodes_count;
	s->free_inodes = fs->super->s_free_inodes_count;
}

/* Write everything back and free the handle (commit), or just free it (abort). */
long cs_close(ext2_filsys fs, int commit)
{
	if (!commit) {
		ext2fs_free(fs);
		return 0;
	}
	return ext2fs_close_free(&fs);
}

long cs_flush(ext2_filsys fs)
{
	errcode_t err = ext2fs_flush(fs);
	if (err)
		return err;
	return io_channel_flush(fs->io);
}

/* Resolve an absolute guest path from the root; intermediate symlinks are followed inside
 * the guest (relative to the guest root), the final component only when `follow`. */
long cs_lookup(ext2_filsys fs, const char *path, int follow, uint32_t *ino)
{
	ext2_ino_t out = 0;
	errcode_t err;

	if (follow)
		err = ext2fs_namei_follow(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &out);
	else
		err = ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &out);
	*ino = out;
	return err;
}

static int kind_of_mode(uint32_t mode)
{
	if (LINUX_S_ISREG(mode))
		return CS_KIND_FILE;
	if (LINUX_S_ISDIR(mode))
		return CS_KIND_DIR;
	if (LINUX_S_ISLNK(mode))
		return CS_KIND_SYMLINK;
	return CS_KIND_OTHER;
}

long cs_stat(ext2_filsys fs, uint32_t ino, struct cs_stat *st)
{
	struct ext2_inode inode;
	errcode_t err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return err;
	st->size = EXT2_I_SIZE(&inode);
	st->mode = inode.i_mode;
	st->uid = inode_uid(inode);
	st->gid = inode_gid(inode);
	st->links = inode.i_links_count;
	st->flags = inode.i_flags;
	return 0;
}

struct dir_ctx {
	ext2_filsys fs;
	cs_dir_cb cb;
	void *ctx;
	errcode_t err;
};

static int dir_proc(struct ext2_dir_entry *dirent, int offset, int blocksize, char *buf,
		    void *priv)
{
	struct dir_ctx *d = priv;
	int len = ext2fs_dirent_name_len(dirent);
	int kind = CS_KIND_UNKNOWN;
	(void)offset;
	(void)blocksize;
	(void)buf;

	if (dirent->inode == 0)
		return 0;
	switch (ext2fs_dirent_file_type(dirent)) {
	case EXT2_FT_REG_FILE:
		kind = CS_KIND_FILE;
		break;
	case EXT2_FT_DIR:
		kind = CS_KIND_DIR;
		break;
	case EXT2_FT_SYMLINK:
		kind = CS_KIND_SYMLINK;
		break;
	case EXT2_FT_UNKNOWN:
		break;
	default:
		kind = CS_KIND_OTHER;
	}
	if (kind == CS_KIND_UNKNOWN) {
		/* No filetype feature (old ext2): ask the inode. */
		struct ext2_inode inode;
		d->err = ext2fs_read_inode(d->fs, dirent->inode, &inode);
		if (d->err)
			return DIRENT_ABORT;
		kind = kind_of_mode(inode.i_mode);
	}
	if (d->cb(d->ctx, dirent->name, len, dirent->inode, kind))
		return DIRENT_ABORT;
	return 0;
}

long cs_dir_iterate(ext2_filsys fs, uint32_t ino, cs_dir_cb cb, void *ctx)
{
	struct dir_ctx d = { fs, cb, ctx, 0 };
	errcode_t err = ext2fs_dir_iterate(fs, ino, 0, NULL, dir_proc, &d);
	return err ? err : d.err;
}

/* Read up to `len` bytes at `off`; `*got` is short only at end of file. */
long cs_read(ext2_filsys fs, uint32_t ino, uint64_t off, void *buf, uint32_t len, uint32_t *got)
{
	ext2_file_t file;
	errcode_t err, err2;
	uint32_t total = 0;

	*got = 0;
	err = ext2fs_file_open(fs, ino, 0, &file);
	if (err)
		return err;
	/* Never ask past the end: 1.47.0 returns stale inline bytes there (fixed in 1.47.4). */
	{
		uint64_t size = ext2fs_file_get_size(file);
		if (off >= size)
			len = 0;
		else if (len > size - off)
			len = size - off;
	}
	err = ext2fs_file_llseek(file, off, EXT2_SEEK_SET, NULL);
	while (!err && total < len) {
		unsigned int n = 0;
		err = ext2fs_file_read(file, (char *)buf + total, len - total, &n);
		if (err || n == 0)
			break;
		total += n;
	}
	/* An inline file may be longer than its inline data: the rest reads as zeros (1.47.0
	 * stops short there instead; fixed in 1.47.4). */
	if (!err && total < len && (ext2fs_file_get_inode(file)->i_flags & EXT4_INLINE_DATA_FL)) {
		memset((char *)buf + total, 0, len - total);
		total = len;
	}
	err2 = ext2fs_file_close(file);
	*got = total;
	return err ? err : err2;
}

long cs_readlink(ext2_filsys fs, uint32_t ino, char *buf, uint32_t cap, uint32_t *len)
{
	struct ext2_inode inode;
	errcode_t err = ext2fs_read_inode(fs, ino, &inode);
	uint64_t size;

	*len = 0;
	if (err)
		return err;
	if (!LINUX_S_ISLNK(inode.i_mode))
		return EINVAL;
	size = EXT2_I_SIZE(&inode);
	if (size > cap)
		return ENAMETOOLONG;
	if (ext2fs_is_fast_symlink(&inode)) {
		if (size > sizeof(inode.i_block))
			return EXT2_ET_INODE_CORRUPTED;
		memcpy(buf, inode.i_block, size);
		*len = size;
		return 0;
	}
	return cs_read(fs, ino, 0, buf, size, len);
}

static void touch_ctime(ext2_filsys fs, struct ext2_inode *inode, int mtime_too)
{
	inode->i_ctime = cs_now(fs);
	if (mtime_too)
		inode->i_mtime = inode->i_ctime;
}

/* Drop one link of `ino`; when none is left, free everything it holds. */
static errcode_t put_inode(ext2_filsys fs, ext2_ino_t ino)
{
	struct ext2_inode inode;
	errcode_t err;
	int is_dir;

	err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return err;
	if (inode.i_links_count == 0)
		return EXT2_ET_INODE_CORRUPTED;
	inode.i_links_count--;
	touch_ctime(fs, &inode, 0);
	if (inode.i_links_count)
		return ext2fs_write_inode(fs, ino, &inode);

	inode.i_dtime = cs_now(fs);
	err = ext2fs_write_inode(fs, ino, &inode);
	if (err)
		return err;
	/* The xattr block (reads and writes the inode itself). */
	err = ext2fs_free_ext_attr(fs, ino, NULL);
	if (err)
		return err;
	/* Re-read: the call above may have changed i_file_acl and i_blocks. */
	err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return err;
	is_dir = LINUX_S_ISDIR(inode.i_mode);
	if ((inode.i_flags & EXT4_INLINE_DATA_FL) ||
	    ext2fs_inode_has_valid_blocks2(fs, &inode)) {
		/* Also clears inline data (i_block and the system.data xattr). */
		err = ext2fs_punch(fs, ino, &inode, NULL, 0, ~0ULL);
		if (err)
			return err;
	}
	ext2fs_inode_alloc_stats2(fs, ino, -1, is_dir);
	return 0;
}

static errcode_t touch_dir(ext2_filsys fs, ext2_ino_t dir, int link_delta)
{
	struct ext2_inode inode;
	errcode_t err = ext2fs_read_inode(fs, dir, &inode);
	if (err)
		return err;
	/* A directory with a link count of 1 has overflowed (dir_nlink): leave it. */
	if (link_delta < 0 && inode.i_links_count > 1)
		inode.i_links_count--;
	touch_ctime(fs, &inode, 1);
	return ext2fs_write_inode(fs, dir, &inode);
}

/* Remove the name `name` (pointing at `ino`) from directory `dir`; not for directories. */
long cs_unlink_file(ext2_filsys fs, uint32_t dir, const char *name, uint32_t ino)
{
	struct ext2_inode inode;
	errcode_t err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return err;
	if (LINUX_S_ISDIR(inode.i_mode))
		return EISDIR;
	err = ext2fs_unlink(fs, dir, name, ino, 0);
	if (err)
		return err;
	err = touch_dir(fs, dir, 0);
	if (err)
		return err;
	return put_inode(fs, ino);
}

struct rmdir_ctx {
	int empty;
};

static int rmdir_proc(struct ext2_dir_entry *dirent, int offset, int blocksize, char *buf,
		      void *priv)
{
	struct rmdir_ctx *r = priv;
	int len = ext2fs_dirent_name_len(dirent);
	(void)offset;
	(void)blocksize;
	(void)buf;

	if (dirent->inode == 0)
		return 0;
	if ((len == 1 && dirent->name[0] == '.') ||
	    (len == 2 && dirent->name[0] == '.' && dirent->name[1] == '.'))
		return 0;
	r->empty = 0;
	return DIRENT_ABORT;
}

/* Remove the empty directory `ino` named `name` in `dir`. */
long cs_rmdir(ext2_filsys fs, uint32_t dir, const char *name, uint32_t ino)
{
	struct ext2_inode inode;
	struct rmdir_ctx r = { 1 };
	errcode_t err;

	if (ino == EXT2_ROOT_INO)
		return EBUSY;
	err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return err;
	if (!LINUX_S_ISDIR(inode.i_mode))
		return ENOTDIR;
	err = ext2fs_dir_iterate(fs, ino, 0, NULL, rmdir_proc, &r);
	if (err)
		return err;
	if (!r.empty)
		return ENOTEMPTY;
	err = ext2fs_unlink(fs, dir, name, ino, 0);
	if (err)
		return err;
	/* One link from the parent's entry, one from its own "." entry. */
	err = put_inode(fs, ino);
	if (!err)
		err = put_inode(fs, ino);
	if (err)
		return err;
	/* Its ".." no longer links the parent. */
	return touch_dir(fs, dir, -1);
}

/*
 * Replace the content of an inline-data inode in place, when it fits. libext2fs 1.47.0's
 * ext2fs_file_write overruns its buffer on inline inodes (fixed in 1.47.4, commit
 * bc599a8b), so inline content never goes through it. i_block is always written in full
 * (zero-padded), so no byte of the old content stays behind.
 */
static errcode_t set_inline(ext2_filsys fs, ext2_ino_t ino, const void *data, uint32_t len)
{
	char small[EXT4_MIN_INLINE_DATA_SIZE];
	struct ext2_inode inode;
	errcode_t err;

	if (len <= EXT4_MIN_INLINE_DATA_SIZE) {
		memset(small, 0, sizeof(small));
		if (len)
			memcpy(small, data, len);
		err = ext2fs_inline_data_set(fs, ino, NULL, small, sizeof(small));
	} else {
		err = ext2fs_inline_data_set(fs, ino, NULL, (void *)data, len);
	}
	if (err)
		return err;
	err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return err;
	err = ext2fs_inode_size_set(fs, &inode, len);
	if (err)
		return err;
	touch_ctime(fs, &inode, 1);
	return ext2fs_write_inode(fs, ino, &inode);
}

static errcode_t set_content(ext2_filsys fs, ext2_ino_t ino, const void *data, uint32_t len)
{
	struct ext2_inode inode;
	ext2_file_t file;
	errcode_t err, err2;
	unsigned int written = 0;

	err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return err;
	if (inode.i_flags & EXT4_INLINE_DATA_FL) {
		err = set_inline(fs, ino, data, len);
		if (err != EXT2_ET_INLINE_DATA_NO_SPACE)
			return err;
		/* Too big to stay inline: move to a block, then write as usual. */
		err = ext2fs_inline_data_expand(fs, ino);
		if (err)
			return err;
	}

	err = ext2fs_file_open(fs, ino, EXT2_FILE_WRITE, &file);
	if (err)
		return err;
	err = ext2fs_file_set_size2(file, 0);
	while (!err && written < len) {
		unsigned int n = 0;
		err = ext2fs_file_write(file, (const char *)data + written, len - written, &n);
		if (!err && n == 0)
			err = EXT2_ET_SHORT_WRITE;
		written += n;
	}
	err2 = ext2fs_file_close(file);
	if (err)
		return err;
	if (err2)
		return err2;
	/* Timestamps, as a write through the kernel would leave them. */
	err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return err;
	touch_ctime(fs, &inode, 1);
	return ext2fs_write_inode(fs, ino, &inode);
}

long cs_truncate(ext2_filsys fs, uint32_t ino)
{
	return set_content(fs, ino, NULL, 0);
}

long cs_write(ext2_filsys fs, uint32_t ino, const void *data, uint32_t len)
{
	return set_content(fs, ino, data, len);
}

/* Create an empty regular file `name` in `dir` (owner 0:0, permission bits `perm`). */
long cs_create(ext2_filsys fs, uint32_t dir, const char *name, uint32_t perm, uint32_t *out)
{
	struct ext2_inode inode;
	ext2_ino_t ino;
	errcode_t err;

	*out = 0;
	err = ext2fs_new_inode(fs, dir, LINUX_S_IFREG | (perm & 07777), NULL, &ino);
	if (err)
		return err;
	err = ext2fs_link(fs, dir, name, ino, EXT2_FT_REG_FILE);
	if (err == EXT2_ET_DIR_NO_SPACE) {
		err = ext2fs_expand_dir(fs, dir);
		if (err)
			return err;
		err = ext2fs_link(fs, dir, name, ino, EXT2_FT_REG_FILE);
	}
	if (err)
		return err;
	ext2fs_inode_alloc_stats2(fs, ino, +1, 0);

	memset(&inode, 0, sizeof(inode));
	inode.i_mode = LINUX_S_IFREG | (perm & 07777);
	inode.i_atime = inode.i_ctime = inode.i_mtime = cs_now(fs);
	inode.i_links_count = 1;
	if (ext2fs_has_feature_inline_data(fs->super)) {
		inode.i_flags |= EXT4_INLINE_DATA_FL;
	} else if (ext2fs_has_feature_extents(fs->super)) {
		ext2_extent_handle_t handle;
		err = ext2fs_extent_open2(fs, ino, &inode, &handle);
		if (err)
			return err;
		ext2fs_extent_free(handle);
	}
	err = ext2fs_write_new_inode(fs, ino, &inode);
	if (err)
		return err;
	if (inode.i_flags & EXT4_INLINE_DATA_FL) {
		err = ext2fs_inline_data_init(fs, ino);
		if (err)
			return err;
	}
	err = touch_dir(fs, dir, 0);
	if (err)
		return err;
	*out = ino;
	return 0;
}

/* Block bitmap search in [start, end]: the first free (or used) block; ENOENT if none. */
long cs_find_first_free(ext2_filsys fs, uint64_t start, uint64_t end, uint64_t *out)
{
	blk64_t b = 0;
	errcode_t err = ext2fs_find_first_zero_block_bitmap2(fs->block_map, start, end, &b);
	*out = b;
	return err;
}

long cs_find_first_used(ext2_filsys fs, uint64_t start, uint64_t end, uint64_t *out)
{
	blk64_t b = 0;
	errcode_t err = ext2fs_find_first_set_block_bitmap2(fs->block_map, start, end, &b);
	*out = b;
	return err;
}

/* Set permission bits and owner of `ino` (the file type bits are kept); ctime updated. */
long cs_set_attr(ext2_filsys fs, uint32_t ino, uint32_t perm, uint32_t uid, uint32_t gid)
{
	struct ext2_inode inode;
	errcode_t err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return err;
	inode.i_mode = (inode.i_mode & LINUX_S_IFMT) | (perm & 07777);
	inode.i_uid = uid & 0xffff;
	ext2fs_set_i_uid_high(inode, uid >> 16);
	inode.i_gid = gid & 0xffff;
	ext2fs_set_i_gid_high(inode, gid >> 16);
	touch_ctime(fs, &inode, 0);
	return ext2fs_write_inode(fs, ino, &inode);
}

/* After creating `name` in `dir`: its inode number, and the parent's times updated. */
static errcode_t created(ext2_filsys fs, uint32_t dir, const char *name, uint32_t *out)
{
	ext2_ino_t ino = 0;
	errcode_t err = ext2fs_lookup(fs, dir, name, strlen(name), NULL, &ino);

	if (err)
		return err;
	err = touch_dir(fs, dir, 0);
	if (err)
		return err;
	*out = ino;
	return 0;
}

/* Create directory `name` in `dir` (as fuse2fs op_mkdir: expand the parent when full). */
long cs_mkdir(ext2_filsys fs, uint32_t dir, const char *name, uint32_t *out)
{
	errcode_t err;

	*out = 0;
	err = ext2fs_mkdir(fs, dir, 0, name);
	if (err == EXT2_ET_DIR_NO_SPACE) {
		err = ext2fs_expand_dir(fs, dir);
		if (err)
			return err;
		err = ext2fs_mkdir(fs, dir, 0, name);
	}
	if (err)
		return err;
	return created(fs, dir, name, out);
}

/* Create symlink `name` in `dir` pointing at `target` (owner 0:0, mode 0777). */
long cs_symlink(ext2_filsys fs, uint32_t dir, const char *name, const char *target, uint32_t *out)
{
	errcode_t err;

	*out = 0;
	err = ext2fs_symlink(fs, dir, 0, name, target);
	if (err == EXT2_ET_DIR_NO_SPACE) {
		err = ext2fs_expand_dir(fs, dir);
		if (err)
			return err;
		err = ext2fs_symlink(fs, dir, 0, name, target);
	}
	if (err)
		return err;
	return created(fs, dir, name, out);
}

/* Use `t` (or, when 0, the superblock's last write time) as "now" for every timestamp this
 * handle writes, libext2fs's own included: the same edits then give the same bytes. */
int64_t cs_pin_time(ext2_filsys fs, int64_t t)
{
	if (t <= 0)
		t = fs->super->s_wtime;
	/* 0 would mean "now" to libext2fs (a superblock that records no write time). */
	if (t <= 0)
		t = 1;
	fs->now = (time_t)t;
	return t;
}

/*
 * An io_manager whose reads and writes go to callbacks (cloudseal's overlay over the input
 * disk), so a filesystem can be edited without a staging copy. The callbacks are handed to
 * the manager's open() through a thread-local set by cs_open_cb: libext2fs opens the channel
 * inside ext2fs_open2, on this thread.
 */
struct cs_io_cb {
	void *ctx;
	long (*read)(void *ctx, uint64_t off, void *buf, uint64_t len);
	long (*write)(void *ctx, uint64_t off, const void *buf, uint64_t len);
};

static __thread const struct cs_io_cb *pending_cb;
static struct struct_io_manager cb_io_manager;

static errcode_t cb_open(const char *name, int flags, io_channel *channel)
{
	io_channel io = NULL;
	struct cs_io_cb *cb = NULL;
	errcode_t err;

	if (!pending_cb)
		return EXT2_ET_BAD_DEVICE_NAME;
	err = ext2fs_get_memzero(sizeof(*io), &io);
	if (!err)
		err = ext2fs_get_mem(sizeof(*cb), &cb);
	if (!err)
		err = ext2fs_get_mem(strlen(name) + 1, &io->name);
	if (err) {
		if (io)
			ext2fs_free_mem(&io);
		if (cb)
			ext2fs_free_mem(&cb);
		return err;
	}
	*cb = *pending_cb;
	strcpy(io->name, name);
	io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	io->manager = &cb_io_manager;
	io->block_size = 1024;
	io->refcount = 1;
	io->flags = flags;
	io->private_data = cb;
	*channel = io;
	return 0;
}

static errcode_t cb_close(io_channel io)
{
	if (--io->refcount > 0)
		return 0;
	ext2fs_free_mem(&io->private_data);
	ext2fs_free_mem(&io->name);
	ext2fs_free_mem(&io);
	return 0;
}

static errcode_t cb_set_blksize(io_channel io, int blksize)
{
	io->block_size = blksize;
	return 0;
}

/* count < 0 means -count bytes (libext2fs's convention). */
static uint64_t cb_len(io_channel io, int count)
{
	return count < 0 ? (uint64_t)(-(int64_t)count) : (uint64_t)count * io->block_size;
}

static errcode_t cb_read_blk64(io_channel io, unsigned long long block, int count, void *data)
{
	struct cs_io_cb *cb = io->private_data;
	return cb->read(cb->ctx, block * io->block_size, data, cb_len(io, count));
}

static errcode_t cb_write_blk64(io_channel io, unsigned long long block, int count,
				const void *data)
{
	struct cs_io_cb *cb = io->private_data;
	return cb->write(cb->ctx, block * io->block_size, data, cb_len(io, count));
}

static errcode_t cb_read_blk(io_channel io, unsigned long block, int count, void *data)
{
	return cb_read_blk64(io, block, count, data);
}

static errcode_t cb_write_blk(io_channel io, unsigned long block, int count, const void *data)
{
	return cb_write_blk64(io, block, count, data);
}

static errcode_t cb_write_byte(io_channel io, unsigned long offset, int size, const void *data)
{
	struct cs_io_cb *cb = io->private_data;
	if (size < 0)
		return EINVAL;
	return cb->write(cb->ctx, offset, data, (uint64_t)size);
}

static errcode_t cb_flush(io_channel io)
{
	(void)io;
	return 0;
}

static errcode_t cb_set_option(io_channel io, const char *option, const char *arg)
{
	(void)io;
	(void)option;
	(void)arg;
	return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager cb_io_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "cloudseal callback I/O manager",
	.open = cb_open,
	.close = cb_close,
	.set_blksize = cb_set_blksize,
	.read_blk = cb_read_blk,
	.write_blk = cb_write_blk,
	.flush = cb_flush,
	.write_byte = cb_write_byte,
	.set_option = cb_set_option,
	.read_blk64 = cb_read_blk64,
	.write_blk64 = cb_write_blk64,
};

/* As cs_open, with all I/O through `cb` (relative to the filesystem's first byte). */
long cs_open_cb(const struct cs_io_cb *cb, int writable, ext2_filsys *out)
{
	ext2_filsys fs = NULL;
	errcode_t err;
	int flags = EXT2_FLAG_64BITS | (writable ? EXT2_FLAG_RW : 0);

	*out = NULL;
	pthread_once(&tables_once, init_tables);
	pending_cb = cb;
	err = ext2fs_open2("cloudseal-overlay", NULL, flags, 0, 0, &cb_io_manager, &fs);
	pending_cb = NULL;
	if (err)
		return err;
	err = ext2fs_read_bitmaps(fs);
	if (err) {
		ext2fs_free(fs);
		return err;
	}
	*out = fs;
	return 0;
}
