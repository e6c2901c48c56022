"""Tencent Cloud API 3.0 errors, the only place where TC error codes live.

    ApiError                      code + bilingual message; rendered as an HTTP 200 envelope
    ├── AuthFailure.*             InvalidAuthorization, SecretIdNotFound, SignatureExpire, SignatureFailure
    ├── InvalidAction / NoSuchVersion / UnsupportedProtocol
    ├── MissingParameter / UnknownParameter
    ├── InvalidParameter(.ParsingError) / InvalidParameterValue
    ├── RequestSizeLimitExceeded / RequestLimitExceeded
    ├── FailedOperation.* / ResourceNotFound
    └── InternalError(.MainDBFail)  never carries a traceback

Every error has an English and a Chinese message; ``X-TC-Language`` (or ``Language``)
picks one.  Handlers raise these; domain errors are translated in ``api.app``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ApiError", "Lang", "pick_language"]

Lang = str  # "en-US" | "zh-CN"


def pick_language(value: str | None) -> Lang:
    """``zh-CN`` when asked for; English otherwise (unknown values fall back to English)."""
    if value and value.strip().lower() in ("zh-cn", "zh"):
        return "zh-CN"
    return "en-US"


@dataclass(frozen=True)
class ApiError(Exception):
    code: str
    en: str
    zh: str

    def message(self, lang: Lang) -> str:
        return self.zh if lang == "zh-CN" else self.en

    def __str__(self) -> str:
        return f"{self.code}: {self.en}"

    # --- authentication -------------------------------------------------------------------
    @classmethod
    def invalid_authorization(cls, detail: str = "") -> ApiError:
        extra = f" ({detail})" if detail else ""
        return cls(
            "AuthFailure.InvalidAuthorization",
            f"The `Authorization` header is missing or not in the Tencent Cloud format{extra}.",
            f"请求头部的 Authorization 缺失或不符合腾讯云标准{extra}。",
        )

    @classmethod
    def secret_id_not_found(cls) -> ApiError:
        return cls(
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found, please ensure that your SecretId is correct.",
            "SecretId不存在，请输入正确的密钥。",
        )

    @classmethod
    def signature_expire(cls) -> ApiError:
        return cls(
            "AuthFailure.SignatureExpire",
            "Signature expired. The timestamp differs from the server time by more than 300 seconds.",
            "签名过期。Timestamp 和服务器时间相差不得超过五分钟。",
        )

    @classmethod
    def signature_failure(cls, detail: str = "") -> ApiError:
        extra = f" {detail}" if detail else ""
        return cls(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. "
            f"Please check your signature is correct.{extra}",
            f"请求签名验证失败，请检查您的签名计算是否正确。{extra}",
        )

    # --- routing ----------------------------------------------------------------------------
    @classmethod
    def invalid_action(cls, action: str) -> ApiError:
        return cls(
            "InvalidAction",
            f"The requested action `{action}` does not exist.",
            f"接口 `{action}` 不存在。",
        )

    @classmethod
    def no_such_version(cls, version: str) -> ApiError:
        return cls(
            "NoSuchVersion",
            f"The API version `{version}` does not exist for this action.",
            f"接口版本 `{version}` 不存在。",
        )

    @classmethod
    def unsupported_protocol(cls, method: str) -> ApiError:
        return cls(
            "UnsupportedProtocol",
            f"HTTP method `{method}` is not supported: only GET and POST are supported.",
            f"不支持 HTTP 方法 `{method}`，仅支持 GET 和 POST。",
        )

    @classmethod
    def request_size_limit(cls, limit: int) -> ApiError:
        return cls(
            "RequestSizeLimitExceeded",
            f"The request exceeds the size limit of {limit} bytes.",
            f"请求包超过大小限制（{limit} 字节）。",
        )

    @classmethod
    def request_limit(cls, action: str, per_second: int) -> ApiError:
        return cls(
            "RequestLimitExceeded",
            f"Request rate limit exceeded for `{action}`: at most {per_second} requests per second.",
            f"接口 `{action}` 请求频率超过限制（每秒 {per_second} 次）。",
        )

    # --- parameters ---------------------------------------------------------------------------
    @classmethod
    def missing_parameter(cls, name: str) -> ApiError:
        return cls(
            "MissingParameter",
            f"The request is missing a required parameter `{name}`.",
            f"缺少必填参数 `{name}`。",
        )

    @classmethod
    def unknown_parameter(cls, name: str) -> ApiError:
        return cls(
            "UnknownParameter",
            f"The parameter `{name}` is not recognized.",
            f"未定义的参数 `{name}`。",
        )

    @classmethod
    def invalid_parameter(cls, name: str, detail: str) -> ApiError:
        return cls(
            "InvalidParameter",
            f"The parameter `{name}` is invalid: {detail}.",
            f"参数 `{name}` 格式错误：{detail}。",
        )

    @classmethod
    def parsing_error(cls, detail: str) -> ApiError:
        return cls(
            "InvalidParameter.ParsingError",
            f"The request body could not be parsed: {detail}.",
            f"请求体解析失败：{detail}。",
        )

    @classmethod
    def invalid_value(cls, name: str, detail: str) -> ApiError:
        return cls(
            "InvalidParameterValue",
            f"The value of parameter `{name}` is invalid: {detail}.",
            f"参数 `{name}` 取值错误：{detail}。",
        )

    # --- service ---------------------------------------------------------------------------------
    @classmethod
    def resource_not_found(cls, what: str) -> ApiError:
        return cls("ResourceNotFound", f"{what} was not found.", f"资源不存在：{what}。")

    @classmethod
    def internal(cls) -> ApiError:
        return cls(
            "InternalError",
            "An internal error occurred; the request was not completed. Retry later.",
            "内部错误，请求未完成，请稍后重试。",
        )

    @classmethod
    def main_db_fail(cls) -> ApiError:
        return cls(
            "InternalError.MainDBFail",
            "The database is unavailable; the request was not completed. Retry later.",
            "数据库不可用，请求未完成，请稍后重试。",
        )
