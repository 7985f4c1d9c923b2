// SPDX-License-Identifier: GPL-2.0
/*
 * Print the offset and size of every on-disk field, as
 * "struct field offset size" lines.  tests/user/05-format-doc.sh compares
 * them with the byte tables of docs/format.md.
 */
#include <stddef.h>
#include <stdio.h>
#include <linux/spf_format.h>

#define F(s, f) printf("%s %s %zu %zu\n", #s, #f, offsetof(struct s, f), \
		       sizeof(((struct s *)0)->f))

int main(void)
{
	F(spf_header, magic); F(spf_header, version);
	F(spf_header, header_size); F(spf_header, compat);
	F(spf_header, incompat); F(spf_header, disk_size);
	F(spf_header, chunk_shift); F(spf_header, codec);
	F(spf_header, codec_level); F(spf_header, depth);
	F(spf_header, reserved0); F(spf_header, create_time);
	F(spf_header, uuid); F(spf_header, parent_uuid);
	F(spf_header, parent_seal); F(spf_header, parent_disk_size);
	F(spf_header, chain_uuid); F(spf_header, reserved1);
	F(spf_header, crypt); F(spf_header, label);
	F(spf_header, parent_name); F(spf_header, reserved2);
	F(spf_header, crc);

	F(spf_crypt, kdf); F(spf_crypt, kdf_t_cost); F(spf_crypt, kdf_m_cost);
	F(spf_crypt, kdf_parallelism); F(spf_crypt, salt);
	F(spf_crypt, wrap_nonce); F(spf_crypt, reserved0);
	F(spf_crypt, wrapped_keys); F(spf_crypt, wrap_tag);
	F(spf_crypt, key_check); F(spf_crypt, reserved);

	F(spf_trailer, magic); F(spf_trailer, trailer_size);
	F(spf_trailer, header_crc); F(spf_trailer, uuid);
	F(spf_trailer, data_end); F(spf_trailer, index_root);
	F(spf_trailer, index_root_crc); F(spf_trailer, index_levels);
	F(spf_trailer, reserved0); F(spf_trailer, index_offset);
	F(spf_trailer, index_blocks); F(spf_trailer, summary_offset);
	F(spf_trailer, summary_crc); F(spf_trailer, reserved1);
	F(spf_trailer, nr_entries); F(spf_trailer, nr_stored);
	F(spf_trailer, stored_bytes); F(spf_trailer, seal_time);
	F(spf_trailer, link_uuid); F(spf_trailer, link_seal);
	F(spf_trailer, reserved2); F(spf_trailer, seal);
	F(spf_trailer, reserved3); F(spf_trailer, crc);

	F(spf_block_header, magic); F(spf_block_header, level);
	F(spf_block_header, count); F(spf_block_header, first_chunk);
	F(spf_block_header, last_chunk); F(spf_block_header, reserved);
	F(spf_block_header, crc);

	F(spf_index_entry, chunk); F(spf_index_entry, offset);
	F(spf_index_entry, length); F(spf_index_entry, crc);
	F(spf_index_entry, state); F(spf_index_entry, reserved);
	F(spf_index_entry, digest);

	F(spf_node_entry, first_chunk); F(spf_node_entry, offset);
	F(spf_node_entry, crc); F(spf_node_entry, reserved);

	F(spf_summary, magic); F(spf_summary, region_shift);
	F(spf_summary, nr_regions); F(spf_summary, reserved0);
	F(spf_summary, reserved1); F(spf_summary, crc);
	F(spf_summary, bits);

	F(spf_chunk_aad, uuid); F(spf_chunk_aad, chunk);
	F(spf_log_record, magic); F(spf_log_record, state);
	F(spf_log_record, reserved0); F(spf_log_record, seq);
	F(spf_log_record, chunk); F(spf_log_record, length);
	F(spf_log_record, data_crc); F(spf_log_record, nonce);
	F(spf_log_record, reserved1); F(spf_log_record, crc);

	return 0;
}
