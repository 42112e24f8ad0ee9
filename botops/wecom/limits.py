"""WeCom's published limits (see docs/wecom-setup.md and wecom-api.md §2, §4).

Pure constants, shared by playbook validation, the planner, the client and the simulator.
"""

MASS_TEXT_MAX_BYTES = 4000
MASS_MAX_ATTACHMENTS = 9
MASS_MAX_CHAT_IDS = 2000
MASS_MAX_EXTERNAL_USERIDS = 10000
LINK_TITLE_MAX_BYTES = 128
LINK_DESC_MAX_BYTES = 512
LINK_URL_MAX_BYTES = 2048
LINK_PICURL_MAX_BYTES = 2048
MINIPROGRAM_TITLE_MAX_BYTES = 64
TAG_FILTER_MAX_TAGS = 100  # per tag_filter group (tag_list), not in total (D-92135)
REMINDERS_PER_TASK_PER_DAY = 3
ROBOT_TEXT_MAX_BYTES = 2048
ROBOT_MARKDOWN_MAX_BYTES = 4096
ROBOT_MESSAGES_PER_MINUTE = 20
MEDIA_VALID_SECONDS = 3 * 24 * 3600


def utf8_len(text: str) -> int:
    """WeCom counts limits in UTF-8 bytes: one Chinese character is 3 bytes."""
    return len(text.encode("utf-8"))


# Call-rate limits per corp per API (D-90454, 2023; older copies: 2,000/min, 30,000/h).
API_CALLS_PER_MINUTE = 10000
API_CALLS_PER_HOUR = 150000
# Paging maxima per request.
GROUPCHAT_LIST_MAX_LIMIT = 1000
GROUPCHAT_LIST_MAX_OWNERS = 100
GROUPMSG_LIST_MAX_LIMIT = 100
GROUPMSG_TASK_MAX_LIMIT = 1000
GROUPMSG_RESULT_MAX_LIMIT = 1000
# What WeCom uses when `limit` is left out or above the maximum (D-93338: "超过最大值时取默认值").
GROUPMSG_LIST_DEFAULT_LIMIT = 50
GROUPMSG_TASK_DEFAULT_LIMIT = 500
GROUPMSG_RESULT_DEFAULT_LIMIT = 500
ROBOT_IMAGE_MAX_BYTES = 2 * 1024 * 1024
ROBOT_NEWS_MAX_ARTICLES = 8
ACCESS_TOKEN_TTL_SECONDS = 7200
