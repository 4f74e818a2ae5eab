-- A neutralized copy (staging, test) must not reach the production agent: forget its URL and token.
DELETE FROM ir_config_parameter WHERE key IN ('payflow_silae.agent_url', 'payflow_silae.agent_token');
