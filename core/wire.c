/* wire.c - encoding and decoding of frame envelopes */
#include "core/wire.h"
#include "core/internal.h"

size_t mlogi_frame_size(const mlogi_frame *f) {
  return MLOGI_FRAME_HEADER + (size_t)f->payload_len;
}

void mlogi_frame_encode(const mlogi_frame *f, void *buf) {
  uint8_t *p = buf;
  p[0] = f->kind;
  p[1] = MLOGI_WIRE_VERSION;
  mlogi_put_le16(p + 2, f->flags);
  mlogi_put_le32(p + 4, f->src);
  mlogi_put_le32(p + 8, f->dst);
  mlogi_put_le32(p + 12, f->incarnation);
  mlogi_put_le64(p + 16, f->seq);
  mlogi_put_le32(p + 24, f->payload_len);
  mlogi_put_le32(p + 28, 0);
  if (f->payload_len > 0)
    memcpy(p + MLOGI_FRAME_HEADER, f->payload, f->payload_len);
}

int mlogi_frame_decode(const void *buf, size_t len, mlogi_frame *f) {
  const uint8_t *p = buf;
  if (buf == NULL || len < MLOGI_FRAME_HEADER || p[1] != MLOGI_WIRE_VERSION ||
      p[0] < MLOGI_FRAME_DATA || p[0] > MLOGI_FRAME_KIND_MAX)
    return MLOG_EPROTO;
  uint32_t payload_len = mlogi_get_le32(p + 24);
  if (payload_len > MLOG_PAYLOAD_MAX ||
      len != MLOGI_FRAME_HEADER + (size_t)payload_len)
    return MLOG_EPROTO;
  f->kind = p[0];
  f->flags = mlogi_get_le16(p + 2);
  f->src = mlogi_get_le32(p + 4);
  f->dst = mlogi_get_le32(p + 8);
  f->incarnation = mlogi_get_le32(p + 12);
  f->seq = mlogi_get_le64(p + 16);
  f->payload_len = payload_len;
  f->payload = p + MLOGI_FRAME_HEADER;
  return MLOG_OK;
}
