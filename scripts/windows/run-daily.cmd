@echo off
rem The daily job for Windows Task Scheduler or by hand: `tpd-programs run`.
rem
rem Usage: scripts\windows\run-daily.cmd [CONFIG]
rem   CONFIG        the configuration file (default: %TPD_CONFIG%, else config\programs.toml
rem                 in the toolkit's folder, two levels above this file)
rem Environment (all optional):
rem   TPD_VENV      the virtual environment the toolkit is installed in (default: .venv in
rem                 the toolkit's folder)
rem   TPD_ENV_FILE  NAME=value lines for secrets such as the SMTP password, read when it
rem                 exists (default: tpd-programs.env beside the configuration file)
rem Exit codes are those of `tpd-programs run`: 0 every step succeeded, 1 a step failed (see
rem the log under the output folder), 2 bad usage or setup, 3 another run is still going.
setlocal
for %%R in ("%~dp0..\..") do set "ROOT=%%~fR"
if "%TPD_VENV%"=="" set "TPD_VENV=%ROOT%\.venv"
set "CONFIG=%~1"
if "%CONFIG%"=="" set "CONFIG=%TPD_CONFIG%"
if "%CONFIG%"=="" set "CONFIG=%ROOT%\config\programs.toml"
if "%TPD_ENV_FILE%"=="" for %%F in ("%CONFIG%") do set "TPD_ENV_FILE=%%~dpFtpd-programs.env"

if not exist "%TPD_VENV%\Scripts\activate.bat" (
    echo run-daily.cmd: no virtual environment at %TPD_VENV%: set TPD_VENV 1>&2
    exit /b 2
)
if exist "%TPD_ENV_FILE%" (
    for /f "usebackq eol=# tokens=1,* delims==" %%A in ("%TPD_ENV_FILE%") do set "%%A=%%B"
)
call "%TPD_VENV%\Scripts\activate.bat"
tpd-programs run --config "%CONFIG%" --quiet
exit /b %ERRORLEVEL%
