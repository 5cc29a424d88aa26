"""Result codes of the exchange (spec/EXCHANGE.md §1.2) and their messages."""

from __future__ import annotations

__all__ = ["ACCEPTED", "RESULT_MESSAGES"]

ACCEPTED = 1001

# Texts as platforms' clients already know them (Fujian client / XLJT ResultCodeEnum).
RESULT_MESSAGES: dict[int, str] = {
    1001: "成功",
    2001: "token认证失败",
    3001: "报文参考号重复",
    3002: "ipcType错误",
    3003: "发送消息队列失败",
    3004: "交换报文解析错误",
    3005: "字段校验失败",
    3006: "对称密钥解密失败",
    3007: "业务报文解密错误",
    3008: "业务报文解析错误",
    9001: "服务器内部错误",
}
