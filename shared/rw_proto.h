/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * ringwatch host <-> guest wire protocol: framing, typed payloads, limits.
 *
 * One encoder/decoder shared by the guest kernel module (built with Kbuild,
 * __KERNEL__ defined, no libc) and by userspace (host daemon, guest agent,
 * tests). Every field is little-endian on the wire and is encoded byte by byte;
 * no struct is ever overlaid on a buffer. The wire format is documented in
 * docs/protocol.md; keep both in sync.
 *
 * The decoder treats its input as hostile: it never reads outside the buffer it
 * is given, bounds every length and count, and reports every kind of malformed
 * input with its own negative error code (see enum rw_proto_err and
 * rw_proto_strerror()).
 */
#ifndef RW_SHARED_RW_PROTO_H
#define RW_SHARED_RW_PROTO_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#endif

/* ---- framing ---------------------------------------------------------- */

#define RW_PROTO_MAGIC 0x31435752u /* "RWC1" as little-endian bytes */
#define RW_PROTO_VERSION_MIN 1     /* oldest version this code speaks */
#define RW_PROTO_VERSION_MAX 2     /* newest version this code speaks */
/* Version 2: CRED_VIOLATION carries the check point and the action taken. */
#define RW_PROTO_VERSION_CRED_CHECK 2
/* Version 2 also: the CRED_CHANGE type and GUARD_EVENT kinds 10..13. */
#define RW_PROTO_VERSION_CRED_CHANGE 2
#define RW_PROTO_VERSION_GUARD_AGENT 2
#define RW_GUARD_KIND_MAX_V1 9
#define RW_PROTO_HDR_LEN 32u
#define RW_PROTO_MAX_FRAME 65536u /* header + payload */
#define RW_PROTO_MAX_PAYLOAD (RW_PROTO_MAX_FRAME - RW_PROTO_HDR_LEN)

/* Header flags. Unknown bits are rejected. */
#define RW_FLAG_RESENT 0x0001u /* frame was already sent on an earlier connection */
#define RW_FLAGS_KNOWN RW_FLAG_RESENT

/* ---- limits ----------------------------------------------------------- */

#define RW_PROTO_BUILD_ID_MAX 20u   /* GNU build ID (SHA-1) bytes */
#define RW_PROTO_SESSION_ID_LEN 16u /* boot id / module-load random id */
#define RW_PROTO_COMM_LEN 16u       /* TASK_COMM_LEN, NUL included */
#define RW_PROTO_MAX_PATH 4096u     /* LSM path, NUL included */
#define RW_PROTO_MAX_NAME 256u      /* policy entry name, NUL included */
#define RW_PROTO_MAX_POLICY_ENTRIES 128u
#define RW_PROTO_MAX_ERROR_TEXT 256u /* ERROR text, NUL included */
#define RW_PROTO_MAX_CHALLENGE_LEN (64u << 20) /* bytes hashed per challenge */
#define RW_PROTO_NONCE_LEN 16u
#define RW_PROTO_SHA256_LEN 32u
#define RW_PROTO_MODULE_NAME_LEN 56u /* MODULE_NAME_LEN on 64-bit, NUL included */
#define RW_PROTO_MAX_MODULE_CORE (1u << 30) /* module core bytes (module area) */
#define RW_PROTO_MAX_EVENT_DETAIL 512u /* GUARD_EVENT detail, NUL included */

/* ---- message types, components, enums ---------------------------------- */

enum rw_msg_type {
	RW_MSG_HELLO = 1,              /* both directions, unsequenced */
	RW_MSG_HEARTBEAT = 2,          /* guest -> host */
	RW_MSG_CPU_STATE = 3,          /* guest -> host */
	RW_MSG_CRED_VIOLATION = 4,     /* guest -> host */
	RW_MSG_LSM_EVENT = 5,          /* guest -> host */
	RW_MSG_POLICY_UPDATE = 6,      /* host -> guest */
	RW_MSG_CHALLENGE = 7,          /* host -> guest */
	RW_MSG_CHALLENGE_RESPONSE = 8, /* guest -> host */
	RW_MSG_ACK = 9,                /* both directions, unsequenced */
	RW_MSG_LOSS = 10,              /* guest -> host */
	RW_MSG_GOODBYE = 11,           /* both directions, unsequenced */
	RW_MSG_ERROR = 12,             /* both directions, unsequenced */
	RW_MSG_MODULE_SELF = 13,       /* guest -> host */
	RW_MSG_GUARD_EVENT = 14,       /* guest -> host */
	RW_MSG_CRED_CHANGE = 15,       /* guest -> host */
};
#define RW_MSG_TYPE_MAX 15

/* Sender of a frame; the header carries it on every frame. */
enum rw_component {
	RW_COMP_HOST = 1,
	RW_COMP_KMOD = 2,  /* guest kernel module */
	RW_COMP_AGENT = 3, /* guest userspace agent */
	RW_COMP_TEST = 4,  /* test programs */
};
#define RW_COMP_MAX 4

/* HELLO capability bits (advertisement; unknown bits are ignored). */
#define RW_CAP_CPU_STATE (1ull << 0)
#define RW_CAP_CRED (1ull << 1)
#define RW_CAP_LSM (1ull << 2)
#define RW_CAP_POLICY (1ull << 3)
#define RW_CAP_CHALLENGE_SHA256 (1ull << 4)
#define RW_CAP_CHALLENGE_XXH64 (1ull << 5)
#define RW_CAP_RESUME (1ull << 6)

enum rw_cpu_reason {
	RW_CPU_PERIODIC = 1,
	RW_CPU_REQUEST = 2,
	RW_CPU_HOTPLUG = 3,
};

/* CPU_STATE valid_mask bits: which registers the guest could read. */
enum rw_cpu_field {
	RW_CPU_F_LSTAR = 0,
	RW_CPU_F_STAR,
	RW_CPU_F_CSTAR,
	RW_CPU_F_SFMASK,
	RW_CPU_F_SYSENTER_CS,
	RW_CPU_F_SYSENTER_ESP,
	RW_CPU_F_SYSENTER_EIP,
	RW_CPU_F_EFER,
	RW_CPU_F_CR0,
	RW_CPU_F_CR4,
	RW_CPU_F_IDTR,
	RW_CPU_F_COUNT
};
#define RW_CPU_VALID_KNOWN ((1u << RW_CPU_F_COUNT) - 1u)

/* CRED_VIOLATION field_mask bits; old/new pairs follow in bit order. */
enum rw_cred_field {
	RW_CRED_UID = 0,
	RW_CRED_GID,
	RW_CRED_SUID,
	RW_CRED_SGID,
	RW_CRED_EUID,
	RW_CRED_EGID,
	RW_CRED_FSUID,
	RW_CRED_FSGID,
	RW_CRED_CAP_INHERITABLE,
	RW_CRED_CAP_PERMITTED,
	RW_CRED_CAP_EFFECTIVE,
	RW_CRED_CAP_BSET,
	RW_CRED_CAP_AMBIENT,
	RW_CRED_SECUREBITS,
	RW_CRED_CRED_PTR,      /* task->cred pointer swapped */
	RW_CRED_REAL_CRED_PTR, /* task->real_cred pointer swapped */
	RW_CRED_NSPROXY_PTR,   /* task->nsproxy pointer swapped */
	RW_CRED_SECCOMP_MODE,  /* task->seccomp.mode lowered */
	RW_CRED_SECCOMP_WORK,  /* seccomp syscall-work bit (0/1) cleared */
	RW_CRED_USER_NS_PTR,   /* cred->user_ns pointer swapped */
	RW_CRED_GROUP_INFO_PTR, /* cred->group_info pointer swapped */
	RW_CRED_FIELD_COUNT
};
#define RW_CRED_FIELDS_KNOWN ((1u << RW_CRED_FIELD_COUNT) - 1u)

/* CRED_VIOLATION check (version >= 2): where the violation was caught.
 * Version 1 frames do not carry it (decoded as 0). */
enum rw_cred_check {
	RW_CRED_CHECK_CAPABLE = 1,      /* capability check (security_capable) */
	RW_CRED_CHECK_FILE_OPEN = 2,    /* file open (security_file_open) */
	RW_CRED_CHECK_EXEC = 3,         /* exec (security_bprm_check) */
	RW_CRED_CHECK_MODULE_LOAD = 4,  /* module / firmware / kexec load */
	RW_CRED_CHECK_FORK = 5,         /* the parent at fork */
	RW_CRED_CHECK_COMMIT_CREDS = 6, /* before a legitimate change replaced it */
	RW_CRED_CHECK_SCAN = 7,         /* the periodic all-task scan (timer) */
};
#define RW_CRED_CHECK_MAX 7
/* CRED_VIOLATION action bits (version >= 2). */
#define RW_CRED_ACT_KILLED 0x1u /* SIGKILL sent to the task */
#define RW_CRED_ACT_DENIED 0x2u /* the checked operation failed with error */
#define RW_CRED_ACTIONS_KNOWN (RW_CRED_ACT_KILLED | RW_CRED_ACT_DENIED)
#define RW_CRED_ERROR_MIN (-4095) /* error: -errno when denied, else 0 */

enum rw_lsm_kind {
	RW_LSM_EXEC = 1,
	RW_LSM_MODULE_LOAD = 2,
	RW_LSM_MOUNT = 3,
	RW_LSM_FILE_OPEN = 4,
	RW_LSM_MMAP_EXEC = 5,
	RW_LSM_BPF_PROG_LOAD = 6,
	RW_LSM_PTRACE = 7,
};
#define RW_LSM_KIND_MAX 7
#define RW_LSM_F_SHA256 0x1u /* sha256 field is meaningful */
#define RW_LSM_FLAGS_KNOWN RW_LSM_F_SHA256
#define RW_LSM_VERDICT_MIN (-4095) /* verdict: 0 = allowed, -errno = denied */

/* GUARD_EVENT kinds: the guest module's own life and self-protection. */
enum rw_guard_kind {
	RW_GUARD_LOADED = 1,           /* module loaded (detail: parameters) */
	RW_GUARD_UNLOAD_ATTEMPT = 2,   /* delete_module() while armed, refused */
	RW_GUARD_DISARMED = 3,         /* the disarm token was presented */
	RW_GUARD_DISARM_REFUSED = 4,   /* a wrong disarm token was presented */
	RW_GUARD_HOOK_LOST = 5,        /* a hook was unregistered / stopped firing */
	RW_GUARD_HOOK_RESTORED = 6,
	RW_GUARD_TRACKING_LOST = 7,    /* credential tracking suspended */
	RW_GUARD_TRACKING_RESUMED = 8,
	RW_GUARD_SHADOW_NOMEM = 9,     /* a task got no credential shadow */
	RW_GUARD_AGENT_LOST = 10,      /* the registered ringwatch-agent is gone */
	RW_GUARD_AGENT_BACK = 11,      /* an agent registered again (detail: gap_ms=) */
	RW_GUARD_PARTNER_DETACHED = 12, /* a BPF LSM hook of the agent's lost its trampoline */
	RW_GUARD_PARTNER_RESTORED = 13,
};
#define RW_GUARD_KIND_MAX 13

/*
 * CRED_CHANGE: a uid/gid-family change one guest component saw on a change
 * path.  The host pairs ringwatch.ko's (commit_creds, its shadow update) with
 * the BPF programs' (task_fix_setuid/setgid, exec) by task and new ids.
 */
enum rw_cred_via {
	RW_VIA_COMMIT_CREDS = 1,    /* ringwatch.ko: commit_creds (shadow update) */
	RW_VIA_TASK_FIX_SETUID = 2, /* BPF LSM task_fix_setuid */
	RW_VIA_TASK_FIX_SETGID = 3, /* BPF LSM task_fix_setgid */
	RW_VIA_EXEC = 4,            /* BPF LSM bprm_committing_creds */
};
#define RW_VIA_MAX 4
#define RW_CRED_CHANGE_F_EXEC 0x1u /* the task was inside execve */
#define RW_CRED_CHANGE_FLAGS_KNOWN RW_CRED_CHANGE_F_EXEC
/* The ids of a CRED_CHANGE, in enum rw_cred_field order (RW_CRED_UID..FSGID). */
#define RW_CRED_CHANGE_IDS 8u

enum rw_policy_op {
	RW_POLICY_ADD = 1,
	RW_POLICY_REMOVE = 2,
	RW_POLICY_REPLACE = 3,
};
enum rw_policy_list {
	RW_LIST_MODULE_ALLOW = 1,
	RW_LIST_EXEC_DENY = 2,
	RW_LIST_MOUNT_RULES = 3,
	RW_LIST_ENV_VARS = 4,
};
#define RW_POLICY_E_SHA256 0x1u /* entry sha256 is meaningful */
#define RW_POLICY_E_FLAGS_KNOWN RW_POLICY_E_SHA256

enum rw_hash_alg {
	RW_HASH_SHA256 = 1, /* HMAC-SHA256 keyed with the nonce, 32-byte digest */
	RW_HASH_XXH64 = 2,  /* 8-byte digest, little-endian */
};

enum rw_challenge_status {
	RW_CHAL_OK = 0,
	RW_CHAL_FAULT = 1,       /* range not readable */
	RW_CHAL_DENIED = 2,      /* range outside what the guest agrees to hash */
	RW_CHAL_BUSY = 3,
	RW_CHAL_UNSUPPORTED = 4, /* hash algorithm not implemented */
};
#define RW_CHAL_STATUS_MAX 4

enum rw_goodbye_reason {
	RW_BYE_SHUTDOWN = 1,
	RW_BYE_UNLOAD = 2,
	RW_BYE_REBOOT = 3,
	RW_BYE_RESTART = 4,
};
#define RW_BYE_REASON_MAX 4

/* ERROR frame codes (what went wrong at the peer). */
enum rw_error_code {
	RW_ERR_VERSION = 1,   /* no common protocol version: connection closes */
	RW_ERR_MALFORMED = 2, /* a frame failed to decode; detail = rw_proto_err */
	RW_ERR_UNEXPECTED = 3, /* valid frame not allowed in this state */
	RW_ERR_STREAM = 4,    /* stream state conflict (resume beyond next_seq...) */
	RW_ERR_INTERNAL = 5,
};
#define RW_ERR_CODE_MAX 5

/* ---- decoder / encoder error codes ------------------------------------ */

enum rw_proto_err {
	RW_PROTO_OK = 0,
	RW_EPROTO_TRUNC_HEADER = -1,    /* fewer than RW_PROTO_HDR_LEN bytes */
	RW_EPROTO_BAD_MAGIC = -2,
	RW_EPROTO_VERSION = -3,         /* header version not spoken here */
	RW_EPROTO_HDR_LEN = -4,         /* header length field not RW_PROTO_HDR_LEN */
	RW_EPROTO_FLAGS = -5,           /* unknown header flag bits */
	RW_EPROTO_HDR_RESERVED = -6,    /* reserved header bytes not zero */
	RW_EPROTO_COMPONENT = -7,       /* unknown sender component */
	RW_EPROTO_UNKNOWN_TYPE = -8,
	RW_EPROTO_TOO_LARGE = -9,       /* payload length over RW_PROTO_MAX_PAYLOAD */
	RW_EPROTO_TRUNC_PAYLOAD = -10,  /* buffer ends before the payload does */
	RW_EPROTO_PAYLOAD_LEN = -11,    /* payload length wrong for the type */
	RW_EPROTO_SEQ = -12,            /* seq 0 on a sequenced type or vice versa */
	RW_EPROTO_DIRECTION = -13,      /* type not allowed from this component */
	RW_EPROTO_STR_UNTERMINATED = -14, /* string has no terminating NUL */
	RW_EPROTO_STR_TOO_LONG = -15,   /* string length over its limit */
	RW_EPROTO_STR_EMBEDDED_NUL = -16, /* NUL before the declared end */
	RW_EPROTO_COUNT = -17,          /* entry count over its limit */
	RW_EPROTO_BAD_ENUM = -18,       /* enum field out of range */
	RW_EPROTO_RESERVED = -19,       /* reserved payload bits/bytes not zero */
	RW_EPROTO_RANGE = -20,          /* inconsistent numbers (lengths, ranges) */
	RW_EPROTO_TRAILING = -21,       /* bytes left after the last entry */
	RW_EPROTO_EMPTY = -22,          /* required non-empty set is empty */
	RW_EPROTO_NOSPACE = -23,        /* encoder: output buffer too small */
	RW_EPROTO_INVAL = -24,          /* encoder: invalid argument */
	RW_EPROTO_NOT_IN_VERSION = -25, /* type or kind newer than the frame's version */
};
#define RW_EPROTO_MIN RW_EPROTO_NOT_IN_VERSION

/* ---- decoded / to-be-encoded messages ---------------------------------- */

struct rw_hdr {
	uint16_t version;
	uint16_t type;
	uint16_t flags;
	uint8_t component;
	uint32_t payload_len;
	uint64_t seq; /* 0 on unsequenced types */
};

struct rw_msg_hello {
	uint16_t version_min;
	uint16_t version_max;
	uint8_t build_id_len;
	uint8_t build_id[RW_PROTO_BUILD_ID_MAX];
	uint64_t capabilities;
	uint8_t session_id[RW_PROTO_SESSION_ID_LEN];
	uint64_t resume_seq; /* guest: last seq it believes acked; host: its high-water mark */
	uint64_t next_seq;   /* next seq the sender will assign to its own frames (>= 1) */
};

struct rw_msg_heartbeat {
	uint64_t counter;
	uint64_t uptime_ns;
};

struct rw_msg_cpu_state {
	uint32_t cpu_id;
	uint16_t reason; /* enum rw_cpu_reason */
	uint16_t idtr_limit;
	uint32_t valid_mask; /* bits of enum rw_cpu_field */
	uint64_t lstar, star, cstar, sfmask;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t efer, cr0, cr4;
	uint64_t idtr_base;
};

struct rw_msg_cred_violation {
	uint32_t pid;
	uint32_t tgid;
	char comm[RW_PROTO_COMM_LEN]; /* NUL-terminated */
	uint32_t field_mask;          /* bits of enum rw_cred_field, not empty */
	uint64_t old_val[RW_CRED_FIELD_COUNT]; /* indexed by field; unset ones 0 */
	uint64_t new_val[RW_CRED_FIELD_COUNT];
	/* Version >= 2 only (0 in a version-1 frame; left out when encoding
	 * version 1): */
	uint8_t check;  /* enum rw_cred_check */
	uint8_t action; /* RW_CRED_ACT_* */
	int16_t error;  /* -errno the refused operation returned (DENIED), else 0 */
};

struct rw_msg_lsm_event {
	uint16_t kind; /* enum rw_lsm_kind */
	uint16_t flags; /* RW_LSM_F_* */
	int32_t verdict; /* 0 or -errno (>= RW_LSM_VERDICT_MIN) */
	uint32_t pid;
	uint32_t uid;
	char comm[RW_PROTO_COMM_LEN];
	uint8_t sha256[RW_PROTO_SHA256_LEN];
	/* path: NUL-terminated, path_len bytes without the NUL (0 = none).
	 * Decoded: points into the decoded buffer. */
	const char *path;
	uint16_t path_len;
};

struct rw_policy_entry {
	const char *name; /* NUL-terminated; decoded: points into the buffer */
	uint16_t name_len; /* without the NUL, 1 .. RW_PROTO_MAX_NAME - 1 */
	uint16_t flags;    /* RW_POLICY_E_* */
	uint8_t sha256[RW_PROTO_SHA256_LEN];
};

struct rw_msg_policy_update {
	uint16_t op;   /* enum rw_policy_op */
	uint16_t list; /* enum rw_policy_list */
	uint16_t count;
	uint32_t generation;
	/* encode: array of count entries */
	const struct rw_policy_entry *entries;
	/* decode: validated entry bytes, walk them with rw_proto_policy_next() */
	const uint8_t *raw;
	uint32_t raw_len;
};

struct rw_msg_challenge {
	uint8_t nonce[RW_PROTO_NONCE_LEN];
	uint64_t gva_start;
	uint32_t length; /* 1 .. RW_PROTO_MAX_CHALLENGE_LEN, no wrap */
	uint16_t hash_alg; /* enum rw_hash_alg */
};

struct rw_msg_challenge_response {
	uint8_t nonce[RW_PROTO_NONCE_LEN];
	uint64_t challenge_seq; /* seq of the CHALLENGE answered */
	uint16_t status;        /* enum rw_challenge_status */
	uint16_t hash_alg;
	uint8_t hash_len; /* 32 (sha256) / 8 (xxh64) when status OK, else 0 */
	uint8_t hash[RW_PROTO_SHA256_LEN];
};

struct rw_msg_ack {
	uint64_t acked_seq; /* cumulative: every seq <= acked_seq is accepted */
};

struct rw_msg_loss {
	uint64_t count; /* messages dropped by a full queue */
	uint64_t first_seq;
	uint64_t last_seq;
};

struct rw_msg_goodbye {
	uint16_t reason; /* enum rw_goodbye_reason */
};

struct rw_msg_error {
	uint16_t code;   /* enum rw_error_code */
	int16_t detail;  /* e.g. the rw_proto_err that triggered it, else 0 */
	uint64_t ref_seq; /* seq of the offending frame if known, else 0 */
	const char *text; /* NUL-terminated; decoded: points into the buffer */
	uint16_t text_len; /* without the NUL */
};

/* The guest module describing itself: the host checks these ranges against
 * its own module walk and hashes the text before it trusts the reports. */
struct rw_msg_module_self {
	uint64_t module_addr;    /* struct module (THIS_MODULE), != 0 */
	uint64_t core_base;      /* core layout base, != 0, no wrap */
	uint32_t text_size;      /* [base, base+text_size) text, > 0 */
	uint32_t ro_size;        /* [base+text_size, base+ro_size) rodata */
	uint32_t ro_after_init_size; /* up to base+ro_after_init_size */
	uint32_t core_size;      /* whole core; text <= ro <= ro_after_init <= core
				  * <= RW_PROTO_MAX_MODULE_CORE */
	char name[RW_PROTO_MODULE_NAME_LEN]; /* NUL-terminated, non-empty */
};

struct rw_msg_guard_event {
	uint16_t kind;      /* enum rw_guard_kind */
	const char *detail; /* "key=value ..." NUL-terminated; decoded: points into
			     * the buffer; NULL when detail_len is 0 */
	uint16_t detail_len; /* without the NUL, < RW_PROTO_MAX_EVENT_DETAIL */
};

struct rw_msg_cred_change {
	uint32_t pid;
	uint32_t tgid;
	char comm[RW_PROTO_COMM_LEN]; /* NUL-terminated */
	uint16_t via;                 /* enum rw_cred_via; kmod: COMMIT_CREDS only,
				       * agent: the others */
	uint16_t flags;               /* RW_CRED_CHANGE_F_* */
	int32_t syscall_nr;           /* syscall in progress, -1 unknown */
	uint32_t old_ids[RW_CRED_CHANGE_IDS]; /* uid gid suid sgid euid egid fsuid fsgid */
	uint32_t new_ids[RW_CRED_CHANGE_IDS]; /* differs from old_ids somewhere */
};

struct rw_msg {
	struct rw_hdr hdr;
	union {
		struct rw_msg_hello hello;
		struct rw_msg_heartbeat heartbeat;
		struct rw_msg_cpu_state cpu;
		struct rw_msg_cred_violation cred;
		struct rw_msg_lsm_event lsm;
		struct rw_msg_policy_update policy;
		struct rw_msg_challenge challenge;
		struct rw_msg_challenge_response chal_resp;
		struct rw_msg_ack ack;
		struct rw_msg_loss loss;
		struct rw_msg_goodbye goodbye;
		struct rw_msg_error error;
		struct rw_msg_module_self self;
		struct rw_msg_guard_event guard;
		struct rw_msg_cred_change cred_change;
	} u;
};

/* ---- API -------------------------------------------------------------- */

/* Human-readable text for an rw_proto_err (never NULL). */
const char *rw_proto_strerror(int err);

/* Name of a GUARD_EVENT kind ("unload_attempt"...), "?" if unknown. */
const char *rw_proto_guard_kind_name(uint16_t kind);

/* Name of a CRED_CHANGE path ("commit_creds"...), "?" if unknown. */
const char *rw_proto_cred_via_name(uint16_t via);

/* Name of a CRED_VIOLATION check ("file_open"...), "?" if unknown. */
const char *rw_proto_cred_check_name(uint8_t check);

/* Name of a message type ("HELLO"...), "?" if unknown. */
const char *rw_proto_type_name(uint16_t type);

/* True if frames of this type carry a sequence number (!= 0). */
bool rw_proto_type_sequenced(uint16_t type);

/*
 * Streaming helper for byte streams (vsock SOCK_STREAM, unix sockets).
 * Looks at the first len bytes of buf:
 *   RW_FRAME_COMPLETE (1): a whole frame is present, *frame_len = its size;
 *   RW_FRAME_NEED_MORE (0): not enough bytes yet, *frame_len = total bytes
 *     needed to make progress (header, then whole frame);
 *   < 0: the header is invalid (rw_proto_err); the stream cannot be resynced.
 * Header fields are checked as soon as their bytes are present, so garbage is
 * rejected early. The payload itself is not validated: call rw_proto_decode().
 */
#define RW_FRAME_NEED_MORE 0
#define RW_FRAME_COMPLETE 1
int rw_proto_frame_check(const void *buf, size_t len, size_t *frame_len);

/*
 * Decode exactly one frame: len must be the frame's size (header + payload).
 * On success returns 0 and fills *msg; pointer fields in *msg point into buf.
 * On failure returns a negative rw_proto_err; *msg is then unspecified.
 */
int rw_proto_decode(const void *buf, size_t len, struct rw_msg *msg);

/*
 * Encode msg (msg->hdr.type, seq, component, flags are used; version is
 * RW_PROTO_VERSION_MAX when msg->hdr.version is 0; payload_len is computed).
 * Returns the frame size (> 0) or a negative rw_proto_err. The output is
 * checked with the decoder, so a frame the decoder would reject is never
 * produced.
 */
long rw_proto_encode(const struct rw_msg *msg, void *buf, size_t cap);

/* Size rw_proto_encode() needs for msg, or a negative rw_proto_err. */
long rw_proto_encoded_size(const struct rw_msg *msg);

/*
 * Write the valid frame (frame, len) in the older protocol version @version
 * into out (cap bytes; must not overlap frame): what @version does not have
 * is left out (e.g. the CRED_VIOLATION check/action of version 2).  Senders
 * keep their queues encoded in RW_PROTO_VERSION_MAX and convert a frame when
 * a connection negotiated less.  Returns the size written (> 0) or a
 * negative rw_proto_err: the frame's own decode error, RW_EPROTO_VERSION
 * when @version is not spoken here or is newer than the frame's,
 * RW_EPROTO_NOT_IN_VERSION when @version cannot carry the message at all
 * (a CRED_CHANGE, a GUARD_EVENT kind > 9 for version 1: senders skip such a
 * frame on that connection and count it; the host sees a sequence gap),
 * RW_EPROTO_NOSPACE, RW_EPROTO_INVAL.
 */
/* Whether protocol @version has m's type (and, for GUARD_EVENT, its kind). */
bool rw_proto_msg_in_version(const struct rw_msg *m, uint16_t version);

long rw_proto_frame_downgrade(const void *frame, size_t len, uint16_t version,
			      void *out, size_t cap);

/* Set RW_FLAG_RESENT in an encoded frame's header (len >= header). */
void rw_proto_mark_resent(void *frame, size_t len);

/*
 * Walk the entries of a decoded POLICY_UPDATE. *iter starts at 0.
 * Returns 1 and fills *entry while entries remain, 0 at the end.
 */
int rw_proto_policy_next(const struct rw_msg_policy_update *p, uint32_t *iter,
			 struct rw_policy_entry *entry);

/*
 * Version negotiation: the highest version both the peer's HELLO range and
 * [my_min, my_max] contain, or 0 when there is none (answer ERROR
 * RW_ERR_VERSION and close).
 */
uint16_t rw_proto_negotiate(const struct rw_msg_hello *peer, uint16_t my_min, uint16_t my_max);

#endif /* RW_SHARED_RW_PROTO_H */
