-- 0008_outbox_attempts: the outbox's publication attempts (common/outbox.c).
--
-- The publisher records a row's attempt here, committed on its own, before
-- it produces the message, and deletes the record in the transaction that
-- stamps the row published. A record found for an unpublished row therefore
-- means an earlier attempt may have reached the broker (its process died
-- between the broker's ack and the commit, or the delivery report never
-- came): the publisher reads the topic back from attempted_ms (minus a
-- margin for clock skew) and stamps the row instead of producing it again
-- when the message is there. attempted_ms is the producing host's clock,
-- the clock of the message's CreateTime timestamp.

CREATE TABLE IF NOT EXISTS outbox_attempts (
  outbox_id BIGINT UNSIGNED NOT NULL,
  attempted_ms BIGINT NOT NULL,
  PRIMARY KEY (outbox_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
