/* Split virtqueue processing over a memfd "guest RAM": well-formed chains and
 * the hostile cases (loops, out-of-range indices and addresses, avail jumps). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "host/virtqueue.h"
#include "tests/lib/vring_guest.h"

#define RAM_GPA 0x100000ull
#define RAM_SIZE (1u << 20)
#define RING_GPA (RAM_GPA + 0x1000)
#define BUF_GPA (RAM_GPA + 0x20000)
#define QSZ 8

struct fx {
	struct tg_ram ram;
	struct guest_ram table;
	struct tg_ring ring;
	struct vq vq;
};

static int fx_setup_num(void **state, uint16_t num)
{
	static struct fx f;
	memset(&f, 0, sizeof(f));
	if (tg_ram_create(&f.ram, RAM_SIZE, RAM_GPA, 0x7f0000000000ull) != 0)
		return -1;
	tg_ram_table(&f.ram, &f.table);
	tg_ring_init(&f.ring, &f.ram, num, RING_GPA);
	if (vq_init(&f.vq, num, tg_ram_at(&f.ram, f.ring.desc), tg_ram_at(&f.ram, f.ring.avail),
		    tg_ram_at(&f.ram, f.ring.used), 0, NULL) != VQ_OK)
		return -1;
	*state = &f;
	return 0;
}

static int fx_setup(void **state) { return fx_setup_num(state, QSZ); }

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	vq_destroy(&f->vq);
	tg_ram_destroy(&f->ram);
	return 0;
}

static void test_empty_ring(void **state)
{
	struct fx *f = *state;
	struct vq_chain c;
	assert_int_equal(vq_pop(&f->vq, &f->table, &c), 0);
	assert_int_equal(vq_pending(&f->vq), 0);
}

static void test_chain_read_write(void **state)
{
	struct fx *f = *state;
	struct vq_chain c;
	memcpy(tg_ram_at(&f->ram, BUF_GPA), "hello ", 6);
	memcpy(tg_ram_at(&f->ram, BUF_GPA + 0x100), "world", 5);
	tg_desc(&f->ring, 3, BUF_GPA, 6, VRING_DESC_F_NEXT, 5);
	tg_desc(&f->ring, 5, BUF_GPA + 0x100, 5, VRING_DESC_F_NEXT, 1);
	tg_desc(&f->ring, 1, BUF_GPA + 0x200, 16, VRING_DESC_F_WRITE, 0);
	tg_avail_push(&f->ring, 3);

	assert_int_equal(vq_pop(&f->vq, &f->table, &c), 1);
	assert_int_equal(c.head, 3);
	assert_int_equal(c.nseg, 3);
	assert_int_equal(c.nread, 2);
	assert_int_equal(c.read_len, 11);
	assert_int_equal(c.write_len, 16);
	char buf[16] = { 0 };
	assert_int_equal(vq_chain_read(&c, 0, buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "hello world", 11);
	assert_int_equal(vq_chain_read(&c, 4, buf, 4), 4);
	assert_memory_equal(buf, "o wo", 4);
	assert_int_equal(vq_chain_write(&c, 2, "XYZ", 3), 3);
	assert_memory_equal(tg_ram_at(&f->ram, BUF_GPA + 0x202), "XYZ", 3);
	/* writes beyond the writable bytes are cut */
	assert_int_equal(vq_chain_write(&c, 14, "abcdef", 6), 2);

	assert_int_equal(vq_push(&f->vq, c.head, 5), VQ_OK);
	uint32_t id, len;
	assert_int_equal(tg_used_pop(&f->ring, &id, &len), 1);
	assert_int_equal(id, 3);
	assert_int_equal(len, 5);
	assert_int_equal(vq_pop(&f->vq, &f->table, &c), 0);
}

static void test_many_wraps(void **state)
{
	struct fx *f = *state;
	struct vq_chain c;
	/* 3 full laps of the ring plus index wrap of the 16-bit counters */
	tg_avail_set_idx(&f->ring, 0);
	for (unsigned i = 0; i < 3 * QSZ; i++) {
		uint16_t d = (uint16_t)(i % QSZ);
		tg_desc(&f->ring, d, BUF_GPA + 64 * d, 64, 0, 0);
		tg_avail_push(&f->ring, d);
		assert_int_equal(vq_pop(&f->vq, &f->table, &c), 1);
		assert_int_equal(c.head, d);
		assert_int_equal(vq_push(&f->vq, c.head, 0), VQ_OK);
		uint32_t id, len;
		assert_int_equal(tg_used_pop(&f->ring, &id, &len), 1);
		assert_int_equal(id, d);
	}
}

static void test_looping_chain(void **state)
{
	struct fx *f = *state;
	struct vq_chain c;
	tg_desc(&f->ring, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	tg_desc(&f->ring, 1, BUF_GPA, 8, VRING_DESC_F_NEXT, 2);
	tg_desc(&f->ring, 2, BUF_GPA, 8, VRING_DESC_F_NEXT, 0);
	tg_avail_push(&f->ring, 0);
	assert_int_equal(vq_pop(&f->vq, &f->table, &c), VQ_E_LOOP);
}

static void test_self_loop(void **state)
{
	struct fx *f = *state;
	struct vq_chain c;
	tg_desc(&f->ring, 4, BUF_GPA, 8, VRING_DESC_F_NEXT, 4);
	tg_avail_push(&f->ring, 4);
	assert_int_equal(vq_pop(&f->vq, &f->table, &c), VQ_E_LOOP);
}

static void test_full_length_chain_ok(void **state)
{
	struct fx *f = *state;
	struct vq_chain c;
	for (uint16_t i = 0; i < QSZ; i++)
		tg_desc(&f->ring, i, BUF_GPA + i, 1, i + 1 < QSZ ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	tg_avail_push(&f->ring, 0);
	assert_int_equal(vq_pop(&f->vq, &f->table, &c), 1);
	assert_int_equal(c.nseg, QSZ);
	assert_int_equal(c.read_len, QSZ);
}

static void test_next_out_of_range(void **state)
{
	struct fx *f = *state;
	struct vq_chain c;
	tg_desc(&f->ring, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, QSZ);
	tg_avail_push(&f->ring, 0);
	assert_int_equal(vq_pop(&f->vq, &f->table, &c), VQ_E_NEXT);
}

static void test_head_out_of_range(void **state)
{
	struct fx *f = *state;
	struct vq_chain c;
	tg_avail_push(&f->ring, 0xffff);
	assert_int_equal(vq_pop(&f->vq, &f->table, &c), VQ_E_HEAD);
}

static void test_desc_outside_ram(void **state)
{
	struct fx *f = *state;
	struct vq_chain c;
	static const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
		{ 0, 16 },                                  /* below RAM */
		{ RAM_GPA + RAM_SIZE, 1 },                  /* just past the end */
		{ RAM_GPA + RAM_SIZE - 4, 8 },              /* straddles the end */
		{ UINT64_MAX - 2, 16 },                     /* address + len wraps */
		{ RAM_GPA, 0xffffffffu },                   /* huge length */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tg_desc(&f->ring, 0, bad[i].addr, bad[i].len, 0, 0);
		tg_avail_push(&f->ring, 0);
		assert_int_equal(vq_pop(&f->vq, &f->table, &c), VQ_E_ADDR);
		assert_int_equal(f->vq.err_addr, bad[i].addr);
		f->vq.last_avail++; /* skip the bad entry for the next case */
	}
	/* the last byte of RAM is fine */
	tg_desc(&f->ring, 0, RAM_GPA + RAM_SIZE - 1, 1, 0, 0);
	tg_avail_push(&f->ring, 0);
	assert_int_equal(vq_pop(&f->vq, &f->table, &c), 1);
}

static void test_avail_idx_jump(void **state)
{
	struct fx *f = *state;
	struct vq_chain c;
	tg_avail_set_idx(&f->ring, QSZ + 1);
	assert_int_equal(vq_pending(&f->vq), VQ_E_AVAIL_IDX);
	assert_int_equal(vq_pop(&f->vq, &f->table, &c), VQ_E_AVAIL_IDX);
	/* exactly a full ring outstanding is legal */
	tg_avail_set_idx(&f->ring, QSZ);
	assert_int_equal(vq_pending(&f->vq), QSZ);
	/* going backwards looks like a huge jump too */
	tg_avail_set_idx(&f->ring, (uint16_t)-1);
	assert_int_equal(vq_pop(&f->vq, &f->table, &c), VQ_E_AVAIL_IDX);
}

static void test_readable_after_writable(void **state)
{
	struct fx *f = *state;
	struct vq_chain c;
	tg_desc(&f->ring, 0, BUF_GPA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	tg_desc(&f->ring, 1, BUF_GPA + 8, 8, 0, 0);
	tg_avail_push(&f->ring, 0);
	assert_int_equal(vq_pop(&f->vq, &f->table, &c), VQ_E_ORDER);
}

static void test_indirect_rejected(void **state)
{
	struct fx *f = *state;
	struct vq_chain c;
	tg_desc(&f->ring, 0, BUF_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	tg_avail_push(&f->ring, 0);
	assert_int_equal(vq_pop(&f->vq, &f->table, &c), VQ_E_INDIRECT);
}

static void test_notify_suppression(void **state)
{
	struct fx *f = *state;
	assert_true(vq_needs_notify(&f->vq));
	tg_avail_set_flags(&f->ring, VRING_AVAIL_F_NO_INTERRUPT);
	assert_false(vq_needs_notify(&f->vq));
}

static void test_push_bad_head(void **state)
{
	struct fx *f = *state;
	assert_int_equal(vq_push(&f->vq, QSZ, 0), VQ_E_PUSH);
}

static void test_resume_from_used_idx(void **state)
{
	struct fx *f = *state;
	struct vq_chain c;
	uint16_t from = 0;
	vq_destroy(&f->vq);
	/* a previous back-end completed 5 buffers; 2 more are waiting */
	tg_used_set_idx(&f->ring, 5);
	f->ring.avail_idx = 5;
	tg_desc(&f->ring, 6, BUF_GPA, 8, 0, 0);
	tg_desc(&f->ring, 7, BUF_GPA, 8, 0, 0);
	tg_avail_push(&f->ring, 6);
	tg_avail_push(&f->ring, 7);
	assert_int_equal(vq_init(&f->vq, QSZ, tg_ram_at(&f->ram, f->ring.desc),
				 tg_ram_at(&f->ram, f->ring.avail), tg_ram_at(&f->ram, f->ring.used),
				 0, &from), VQ_OK);
	assert_int_equal(from, 5);
	assert_int_equal(vq_pop(&f->vq, &f->table, &c), 1);
	assert_int_equal(c.head, 6);
	vq_push(&f->vq, c.head, 0);
	assert_int_equal(tg_used_idx(&f->ring), 6);

	/* used index that cannot be right (more than num behind avail) */
	vq_destroy(&f->vq);
	tg_used_set_idx(&f->ring, (uint16_t)(f->ring.avail_idx - QSZ - 1));
	assert_int_equal(vq_init(&f->vq, QSZ, tg_ram_at(&f->ram, f->ring.desc),
				 tg_ram_at(&f->ram, f->ring.avail), tg_ram_at(&f->ram, f->ring.used),
				 0, &from), VQ_E_USED_IDX);
	/* leave a valid queue for teardown */
	tg_used_set_idx(&f->ring, f->ring.avail_idx);
	assert_int_equal(vq_init(&f->vq, QSZ, tg_ram_at(&f->ram, f->ring.desc),
				 tg_ram_at(&f->ram, f->ring.avail), tg_ram_at(&f->ram, f->ring.used),
				 0, NULL), VQ_OK);
}

static void test_init_rejects_bad_geometry(void **state)
{
	struct fx *f = *state;
	struct vq q;
	uint8_t *d = tg_ram_at(&f->ram, f->ring.desc);
	uint8_t *a = tg_ram_at(&f->ram, f->ring.avail);
	uint8_t *u = tg_ram_at(&f->ram, f->ring.used);
	assert_int_equal(vq_init(&q, 0, d, a, u, 0, NULL), VQ_E_SIZE);
	assert_int_equal(vq_init(&q, 6, d, a, u, 0, NULL), VQ_E_SIZE);
	assert_int_equal(vq_init(&q, 8, d + 8, a, u, 0, NULL), VQ_E_ALIGN);
	assert_int_equal(vq_init(&q, 8, d, a + 1, u, 0, NULL), VQ_E_ALIGN);
	assert_int_equal(vq_init(&q, 8, d, a, u + 2, 0, NULL), VQ_E_ALIGN);
	assert_int_equal(vq_init(&q, 8, NULL, a, u, 0, NULL), VQ_E_NOT_READY);
	assert_string_not_equal(vq_strerror(VQ_E_LOOP), vq_strerror(VQ_E_ADDR));
}

static void test_guest_ram_translation(void **state)
{
	struct fx *f = *state;
	struct guest_ram t = f->table;
	assert_non_null(guest_ram_gpa(&t, RAM_GPA, RAM_SIZE));
	assert_null(guest_ram_gpa(&t, RAM_GPA, RAM_SIZE + 1ull));
	assert_null(guest_ram_gpa(&t, RAM_GPA - 1, 2));
	assert_ptr_equal(guest_ram_uva(&t, 0x7f0000000010ull, 4), f->ram.p + 0x10);
	assert_null(guest_ram_uva(&t, UINT64_MAX, 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_ring, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_chain_read_write, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_many_wraps, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_looping_chain, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_self_loop, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_full_length_chain_ok, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_next_out_of_range, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_head_out_of_range, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_desc_outside_ram, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_avail_idx_jump, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_readable_after_writable, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_indirect_rejected, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_notify_suppression, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_push_bad_head, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_resume_from_used_idx, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_init_rejects_bad_geometry, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_guest_ram_translation, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
