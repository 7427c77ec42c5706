"""ganc's configuration: environment variables with the prefix GANC_, each with a laptop default."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANC_")

    model_repository: Path = Path("model_repository")


def get_settings() -> Settings:
    return Settings()
